"""The console's pages beyond the overview and the message and delivery lists, one blueprint each, and
the admin API's own description (``/admin/api/openapi.json``)."""
