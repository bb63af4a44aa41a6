"""The admin console at /admin/: `from bot.admin import blueprint`."""
from bot.admin.web import blueprint
from bot.admin import data_pages, push_pages, source_pages, subscriber_pages  # noqa: F401  (they add their routes to the blueprint)

__all__ = ["blueprint"]
