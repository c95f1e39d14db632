-- The warehouse lives beside Dagster's storage database.
CREATE DATABASE sniper OWNER sniper;
