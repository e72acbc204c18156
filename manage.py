#!/usr/bin/env python
from hisguard.cli import main

if __name__ == "__main__":
    main()
