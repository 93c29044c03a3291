"""Starts moto's server with one correction, so tests see AWS's documented answer.

moto 5.2.5's GetSecretValue without a VersionStage returns a "default" version that
PutSecretValue and CreateSecret move, but UpdateSecretVersionStage does not: after a
write that stages its value and then moves AWSCURRENT onto it (as the token-rotator store
writes), a consumer's plain `aws secretsmanager get-secret-value` would get the previous
value. AWS returns the AWSCURRENT version when no stage is named:
https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
Here the default follows AWSCURRENT whenever it moves; nothing else changes.
"""
import sys

from moto.secretsmanager.models import SecretsManagerBackend
from moto.server import main

_update_stage = SecretsManagerBackend.update_secret_version_stage


def _update_stage_following_current(self, secret_id, version_stage, remove_from_version_id, move_to_version_id):
    result = _update_stage(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
    if version_stage == "AWSCURRENT" and move_to_version_id:
        self.secrets[secret_id].set_default_version_id(move_to_version_id)
    return result


SecretsManagerBackend.update_secret_version_stage = _update_stage_following_current

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
