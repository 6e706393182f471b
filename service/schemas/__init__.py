"""Pydantic wire contracts shared by the API, the use-cases and the client."""
