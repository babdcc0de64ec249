from devtools.host.cli import main

raise SystemExit(main())
