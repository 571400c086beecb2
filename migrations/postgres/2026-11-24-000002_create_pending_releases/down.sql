DROP TABLE pending_releases;
