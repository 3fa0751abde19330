"""`python -m litzoo.summary_cli` == `litzoo-summary` (for environments without the console script)."""
from litzoo.summary import main

if __name__ == "__main__":
    main()
