"""Starts moto's server with corrections, so tests see AWS's documented answers.

moto 5.2.5's GetSecretValue without a VersionStage returns a "default" version that
PutSecretValue and CreateSecret move, but UpdateSecretVersionStage does not: after a
write that stages its value and then moves AWSCURRENT onto it (as the token-rotator store
writes), a consumer's plain `aws secretsmanager get-secret-value` would get the previous
value. AWS returns the AWSCURRENT version when no stage is named:
https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
Here the default follows AWSCURRENT whenever it moves. Below, Secrets Manager's calls are
applied one at a time, and (opt-in) IAM is checked against the ARN a call names.
"""
import os
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

# One call at a time per Secrets Manager backend, as AWS applies each call atomically: moto's
# threaded server checks and then changes a secret in separate steps, so two calls racing in
# the same instant could both pass a check that only one of them may (two PutSecretValue
# calls with one ClientRequestToken both creating that version; two UpdateSecretVersionStage
# calls both moving AWSCURRENT off the same version). The store's compare-and-set relies on
# exactly those checks; the tests must exercise them as AWS answers, not moto's races.
import functools
import threading

_atomic = threading.RLock()


def _one_at_a_time(method):
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with _atomic:
            return method(self, *args, **kwargs)

    return locked


for _name in (
    "create_secret",
    "put_secret_value",
    "update_secret_version_stage",
    "get_secret_value",
    "batch_get_secret_value",
    "describe_secret",
    "delete_secret",
):
    setattr(SecretsManagerBackend, _name, _one_at_a_time(getattr(SecretsManagerBackend, _name)))

# With TOKEN_ROTATOR_MOTO_IAM_RESOURCES=1 (and INITIAL_NO_AUTH_ACTION_COUNT), IAM is checked
# against the ARN a call names, as AWS does: moto 5.2.5 checks Secrets Manager and SSM calls
# against the resource "*" only, which no statement scoped to ARNs matches. And a
# BatchGetSecretValue returns only the secrets the caller may GetSecretValue, the others as
# AccessDeniedException entries, as AWS documents; moto checks the batch action alone.
if os.environ.get("TOKEN_ROTATOR_MOTO_IAM_RESOURCES") == "1":
    import json

    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import AccessDeniedError
    from moto.iam.access_control import IAMRequest
    from moto.secretsmanager.models import secretsmanager_backends
    from moto.secretsmanager.responses import SecretsManagerResponse
    from moto.ssm.responses import SimpleSystemManagerResponse

    def _arn_of_secret(self, secret_id):
        secret = secretsmanager_backends[self.current_account][self.region].secrets.get(secret_id)
        if secret is not None:
            return secret.arn
        return f"arn:{self.partition}:secretsmanager:{self.region}:{self.current_account}:secret:{secret_id}"

    def _secret_arn(self):
        secret_id = self._get_param("SecretId") or self._get_param("Name")
        if not secret_id:
            return "*"  # ListSecrets, BatchGetSecretValue: not scoped to a secret in AWS either
        return _arn_of_secret(self, secret_id)

    _batch_get = SecretsManagerResponse.batch_get_secret_value

    def _batch_get_checking_each_secret(self):
        secret_ids = self._get_param("SecretIdList", if_none=[])
        if not secret_ids or ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
            return _batch_get(self)
        request = IAMRequest(
            account_id=self.current_account,
            method=self.method,
            path=self.raw_path,
            data=self.data,
            body=self.raw_body,
            headers=self.headers,
            action="GetSecretValue",
        )
        allowed, denied = [], []
        for secret_id in secret_ids:
            try:
                request.check_action_permitted(_arn_of_secret(self, secret_id))
                allowed.append(secret_id)
            except AccessDeniedError:
                denied.append({"SecretId": secret_id, "ErrorCode": "AccessDeniedException", "Message": "access denied"})
        values, errors, next_token = ([], [], None)
        if allowed:
            values, errors, next_token = self.backend.batch_get_secret_value(secret_id_list=allowed)
        return json.dumps({"SecretValues": values, "Errors": errors + denied, "NextToken": next_token})

    SecretsManagerResponse.batch_get_secret_value = _batch_get_checking_each_secret

    def _parameter_arn(self):
        name = self._get_param("Name") or self._get_param("Path")
        if not name:
            return "*"
        return f"arn:{self.partition}:ssm:{self.region}:{self.current_account}:parameter/{name.lstrip('/')}"

    SecretsManagerResponse._determine_resource = _secret_arn
    SimpleSystemManagerResponse._determine_resource = _parameter_arn

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
