"""The config station: the engine configuration (channels, destinations, routes), process settings
from the environment, where the bundled configuration is, and its reloading while the engine runs."""
