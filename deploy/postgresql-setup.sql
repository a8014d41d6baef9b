-- PostgreSQL setup for the Liaison relay (run as the postgres superuser: psql -f this file).
-- The relay connects as role `liaison` over the local socket with peer authentication:
--   LIAISON_DB=postgresql://liaison@/liaison?host=/run/postgresql
-- For TCP, give the role a password in ~liaison/.pgpass (mode 0600), never in the URL of a
-- unit file, and require scram-sha-256 in pg_hba.conf.
CREATE ROLE liaison LOGIN;
CREATE DATABASE liaison OWNER liaison ENCODING 'UTF8' TEMPLATE template0;
\connect liaison
-- The schema belongs to the relay's role; `liaison db upgrade` creates the tables in it.
ALTER SCHEMA public OWNER TO liaison;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
