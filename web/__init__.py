"""The Starlette app: publishing and read APIs, live endpoints, pages."""
