import sys

from dnsfilter.cli.main import main

sys.exit(main())
