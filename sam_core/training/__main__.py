"""`python -m sam_core.training ...`: train the embedded nano SAM (flags: `--help`, or config.TrainConfig)."""

import sys

from sam_core.training.loop import main

sys.exit(main())
