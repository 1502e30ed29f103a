"""Starts a file channel of the kind its configuration names: a drop folder, or an SFTP poller
feeding a local drop folder."""

from __future__ import annotations

from connectors.inbound.folder import DropFolder
from engine.config.engine_config import ChannelConfig
from engine.pipeline.files import FileReceiver


def start_file_channel(channel: ChannelConfig, receiver: FileReceiver):
    """Start watching ``channel``; returns what to ``stop()`` at shutdown."""
    if channel.type == "sftp":
        from connectors.inbound.sftp import SftpChannel

        started = SftpChannel(channel.options, DropFolder(receiver.settings, receiver))
    else:
        started = DropFolder(receiver.settings, receiver)
    started.start()
    return started
