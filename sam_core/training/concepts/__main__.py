from sam_core.training.concepts.loop import main

raise SystemExit(main())
