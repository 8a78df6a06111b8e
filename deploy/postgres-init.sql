-- Runs once, when the postgres service's volume is first created: a database for
-- talentflow's published tables (TALENTFLOW_DATABASE_URL), beside Prefect's own
-- ("prefect", created from POSTGRES_DB). Both are owned by the POSTGRES_USER.
CREATE DATABASE talentflow;
