"""Operations: logging, metrics, health and control endpoints, sdnotify, credentials."""
