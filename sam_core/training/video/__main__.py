import sys

from sam_core.training.video.loop import main

sys.exit(main())
