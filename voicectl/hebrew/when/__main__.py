"""`python -m voicectl.hebrew.when "ביום שלישי בשלוש" --now 2026-11-22T10:00:00+02:00`."""

import sys

from voicectl.hebrew.when.cli import main

sys.exit(main())
