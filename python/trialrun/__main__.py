from trialrun.cli import main

raise SystemExit(main())
