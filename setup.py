"""The package's folders: ``dnsfilter/`` and, inside it once installed, the
catalog with its lists and licences (``blocklists/``) and the web page
(``webui/``), which live at the top of the source tree. Everything else is in
setup.cfg."""

from setuptools import find_packages, setup

SHIPPED_FOLDERS = {"dnsfilter.blocklists": "blocklists", "dnsfilter.webui": "webui"}

setup(
    packages=find_packages(include=["dnsfilter", "dnsfilter.*"]) + list(SHIPPED_FOLDERS),
    package_dir=SHIPPED_FOLDERS,
)
