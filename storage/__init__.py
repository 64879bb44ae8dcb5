"""The shared kernel: where data is kept and how a problem in what was read is reported.

Engines (`sqlite`, `postgresql`) with one migration runner each and the same small `db.Db`
interface, PostgreSQL's LISTEN (`postgresql.Listener`), and `problems.ConfigProblem`. Every
domain may import it; it imports no domain (tests/test_architecture.py).
"""
