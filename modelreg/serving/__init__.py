"""Endpoints: the backend that runs model workers, the workers themselves, and the frameworks they load."""
