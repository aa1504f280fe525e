"""Superset's configuration in the compose profile (mounted read-only at SUPERSET_CONFIG_PATH).

The same options as the local profile's generated config (retail_platform/runtime/superset.py;
tests/unit/test_compose.py keeps them equal), except that the secret key and the metadata database
(PostgreSQL, database ``superset`` of the compose ``postgres`` service) come from the environment.
"""

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_DATABASE_URI"]
TALISMAN_ENABLED = False
SQLLAB_CTAS_NO_LIMIT = False
FEATURE_FLAGS = {"DASHBOARD_RBAC": False, "ALERT_REPORTS": False, "DASHBOARD_VIRTUALIZATION": False}
SUPERSET_WEBSERVER_TIMEOUT = 120
