"""SQLAlchemy tables and repositories: the only package that builds SQL."""
