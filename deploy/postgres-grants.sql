-- Vigil's PostgreSQL login role: monitoring statistics, read-only, nothing else.
--
-- Run once per cluster as a superuser (roles are cluster-wide), then give the role a password
-- out of band and put it in the DSN through a secret, never in a file:
--   psql "$ADMIN_DSN" -f deploy/postgres-grants.sql
--   psql "$ADMIN_DSN" -c "\password vigil_monitor"
--
-- What the role may do and why:
--   pg_monitor  = pg_read_all_stats (every session's state, timings, query text and
--                 pg_stat_statements rows; without it other roles' sessions look idle and
--                 the session checks under-count), pg_read_all_settings and
--                 pg_stat_scan_tables. No table data, no signalling, no writes.
--   default_transaction_read_only: a second lock behind the probe, which also opens every
--                 session read-only.
--   CONNECTION LIMIT: Vigil holds one connection per database per process (one per xdist
--                 worker); the limit keeps a misconfigured run from adding to an exhaustion.
-- It is deliberately not a superuser, has no pg_signal_backend (cannot cancel or terminate
-- anyone's query) and no pg_read_all_data.
--
-- Vigil refuses, before any query, a session whose login role is a superuser or a member
-- (directly, through other roles, INHERIT or not) of pg_execute_server_program,
-- pg_signal_backend, pg_write_server_files or pg_read_server_files: a read-only transaction
-- does not stop COPY ... TO PROGRAM, pg_terminate_backend(), pg_stat_reset() or
-- pg_switch_wal(). Never grant those to this role; `allow_privileged_role: true` on a target
-- lifts the refusal and is noted in every report (see docs/postgres.md).

CREATE ROLE vigil_monitor LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    CONNECTION LIMIT 10;
GRANT pg_monitor TO vigil_monitor;
ALTER ROLE vigil_monitor SET default_transaction_read_only = on;
ALTER ROLE vigil_monitor SET statement_timeout = '10s';
ALTER ROLE vigil_monitor SET idle_in_transaction_session_timeout = '30s';

-- Data assertions (`assertions:` in the environment file) read application tables. Grant
-- SELECT on exactly the tables they name, in each database, and nothing broader, e.g.:
--   GRANT USAGE ON SCHEMA public TO vigil_monitor;
--   GRANT SELECT ON payouts, payments, transactions TO vigil_monitor;
