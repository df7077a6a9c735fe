import sys

from dnsfilter.cli import main

sys.exit(main())
