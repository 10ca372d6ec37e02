"""Ports on this machine: a free one to listen on, which ones are taken, and whether a URL answers."""

from __future__ import annotations

import socket

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def busy_ports(ports: list[int]) -> list[int]:
    """The ports something already listens on at 127.0.0.1."""
    busy = []
    for port in ports:
        with socket.socket() as probe:
            probe.settimeout(1)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(port)
    return busy


def answers(url: str, timeout: float = 1) -> bool:
    """Whether `url` answers 200 within `timeout` seconds."""
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False
