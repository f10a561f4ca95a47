"""modelreg's own JSON API (``/api``) for what SageMaker has no call for."""
