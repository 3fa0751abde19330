"""What runs a run: compose (configs and overrides), checks, build, fit, record (results.json), resume (run
folders, checkpoints, what a resume may change), console, and the guards around them (trust, lock, signals, ranks,
atomic writes). Nothing here trusts a file it reads."""
