from seqzoo.cli import main

raise SystemExit(main())
