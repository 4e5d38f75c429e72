# Scenario (f) in isolation: the Bearer caller statement of crates/infrastructure/src/sql/caller.rs on
# SQLite files of 1 000 and 1 000 000 users (same columns as the migrations), read-only with mmap as
# the server reads, timed from Python (min of 3 x 100 000 lookups). Variants: base (the schema as
# shipped), page16k, covering (the token index carries the token columns), norowid (users WITHOUT
# ROWID), both. Usage: python3 sqlite_caller_depth.py base|page16k|covering|norowid|both
# (writes /tmp/fexp/<variant>-<n>.db). Results: BENCHMARKS.md, "(f) in isolation".
import sqlite3, os, random, time, sys
SCHEMA_USERS = '''CREATE TABLE users ( id text NOT NULL PRIMARY KEY, email text NOT NULL, name text NOT NULL, password_hash text NULL, oidc_provider text NULL, is_admin boolean NOT NULL DEFAULT FALSE, mfa_enabled boolean NOT NULL DEFAULT FALSE, mfa_secret text NULL, mfa_enrolled_at integer NULL, mfa_last_totp_step integer NULL, created_at integer NOT NULL ){wr};
CREATE UNIQUE INDEX ux_users_email ON users (email);
CREATE INDEX ix_users_created_at ON users (created_at, id);'''
SCHEMA_TOKENS = '''CREATE TABLE api_tokens ( id text NOT NULL PRIMARY KEY, user_id text NOT NULL, name text NOT NULL, token_hash text NOT NULL, created_at integer NOT NULL, last_used_at integer NULL, revoked_at integer NULL );
CREATE UNIQUE INDEX ux_api_tokens_token_hash ON api_tokens ({tokidx});
CREATE INDEX ix_api_tokens_user_id ON api_tokens (user_id, created_at);
CREATE TABLE backup_codes ( user_id text NOT NULL, code_hash text NOT NULL, created_at integer NOT NULL, used_at integer NULL, PRIMARY KEY (user_id, code_hash));'''
Q = '''SELECT t.id, t.user_id, t.name, t.token_hash, t.created_at, t.last_used_at, t.revoked_at,
 u.id, u.email, u.name, u.password_hash, u.oidc_provider, u.is_admin, u.mfa_enabled, u.mfa_secret, u.mfa_enrolled_at, u.mfa_last_totp_step, u.created_at,
 (SELECT COUNT(*) FROM backup_codes b WHERE b.user_id = u.id AND b.used_at IS NULL)
 FROM api_tokens t JOIN users u ON t.user_id = u.id WHERE t.token_hash = ?'''
PHC = '$argon2id$v=19$m=19456,t=2,p=1$' + 'a'*22 + '$' + 'b'*43

def build(path, n, page_size, without_rowid, covering):
    if os.path.exists(path): os.remove(path)
    c = sqlite3.connect(path)
    c.execute(f'PRAGMA page_size={page_size}')
    c.execute('PRAGMA journal_mode=WAL')
    c.executescript(SCHEMA_USERS.format(wr=' WITHOUT ROWID' if without_rowid else ''))
    tokidx = 'token_hash, id, user_id, name, created_at, last_used_at, revoked_at' if covering else 'token_hash'
    c.executescript(SCHEMA_TOKENS.format(tokidx=tokidx))
    c.execute('BEGIN')
    c.execute(f'''WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < {n})
      INSERT INTO users SELECT lower(hex(randomblob(16))), 'user'||i||'@example.com', 'User '||i, ?, NULL, 0, 0, NULL, NULL, NULL, 1700000000000+i FROM s''', (PHC,))
    c.execute('''INSERT INTO api_tokens SELECT lower(hex(randomblob(16))), id, 'bench', lower(hex(randomblob(32))), created_at, NULL, NULL FROM users''')
    c.execute('COMMIT')
    c.close()

def measure(path, reps=100000):
    c = sqlite3.connect(f'file:{path}?mode=ro', uri=True)
    c.execute('PRAGMA mmap_size=1073741824')
    hashes = [r[0] for r in c.execute('SELECT token_hash FROM api_tokens ORDER BY random() LIMIT 1000')]
    for h in hashes: c.execute(Q, (h,)).fetchall()  # warm
    best = None
    for _ in range(3):
        t = time.perf_counter()
        for i in range(reps):
            c.execute(Q, (hashes[i % 1000],)).fetchall()
        dt = (time.perf_counter() - t) / reps * 1e6
        best = dt if best is None else min(best, dt)
    c.close()
    return best

variant = sys.argv[1]
cfg = {'base': (4096, False, False), 'page16k': (16384, False, False), 'covering': (4096, False, True),
       'norowid': (4096, True, False), 'both': (4096, True, True)}[variant]
res = {}
for n in (1000, 1000000):
    os.makedirs('/tmp/fexp', exist_ok=True)
    p = f'/tmp/fexp/{variant}-{n}.db'
    build(p, n, *cfg)
    res[n] = measure(p)
print(f'{variant}: 1k {res[1000]:.2f} us/query, 1M {res[1000000]:.2f} us/query, ratio 1k/1M throughput {res[1000]/res[1000000]:.3f}')
