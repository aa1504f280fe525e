"""Business intelligence: the Superset dashboards as code (catalog, bundle, access) and helpers to
provision and inspect them."""
