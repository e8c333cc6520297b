"""The web app and API: FastAPI routes, forms, request and response models, security."""
