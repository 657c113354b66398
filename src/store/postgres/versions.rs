//! Deployed versions on PostgreSQL (`_flux_blobs`, `_flux_versions`, as
//! [`super::super::versions`] keeps them on SQLite).

use postgres::GenericClient;

use super::super::versions::{lookup, marked, NewVersion, VersionLookup, VersionRow, COLUMNS};
use super::super::Result;

fn version(row: &postgres::Row) -> Result<VersionRow> {
    Ok(VersionRow {
        id: row.try_get(0)?,
        files: row.try_get(1)?,
        size: row.try_get(2)?,
        created_at_us: row.try_get(3)?,
        deployed_by: row.try_get(4)?,
        message: row.try_get(5)?,
        activated_at_us: row.try_get(6)?,
        active: false,
    })
}

pub(super) fn list(client: &mut impl GenericClient) -> Result<Vec<VersionRow>> {
    let rows = client
        .query(
            &format!("SELECT {COLUMNS} FROM _flux_versions ORDER BY activated_at_us DESC, id"),
            &[],
        )?
        .iter()
        .map(version)
        .collect::<Result<_>>()?;
    Ok(marked(rows))
}

pub(super) fn active(client: &mut impl GenericClient) -> Result<Option<(VersionRow, String)>> {
    let Some(row) = client.query_opt(
        &format!(
            "SELECT {COLUMNS}, manifest FROM _flux_versions ORDER BY activated_at_us DESC, id LIMIT 1"
        ),
        &[],
    )?
    else {
        return Ok(None);
    };
    let mut active = version(&row)?;
    active.active = true;
    Ok(Some((active, row.try_get(7)?)))
}

pub(super) fn active_id(client: &mut impl GenericClient) -> Result<Option<String>> {
    Ok(client
        .query_opt(
            "SELECT id FROM _flux_versions ORDER BY activated_at_us DESC, id LIMIT 1",
            &[],
        )?
        .map(|row| row.try_get(0))
        .transpose()?)
}

pub(super) fn manifest(client: &mut impl GenericClient, id: &str) -> Result<Option<String>> {
    Ok(client
        .query_opt("SELECT manifest FROM _flux_versions WHERE id = $1", &[&id])?
        .map(|row| row.try_get(0))
        .transpose()?)
}

pub(super) fn missing_blobs(
    client: &mut impl GenericClient,
    hashes: &[String],
) -> Result<Vec<String>> {
    let present: Vec<String> = client
        .query(
            "SELECT hash FROM _flux_blobs WHERE hash = ANY($1)",
            &[&hashes],
        )?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    Ok(hashes
        .iter()
        .filter(|hash| !present.contains(hash))
        .cloned()
        .collect())
}

pub(super) fn blob(client: &mut impl GenericClient, hash: &str) -> Result<Option<Vec<u8>>> {
    Ok(client
        .query_opt("SELECT data FROM _flux_blobs WHERE hash = $1", &[&hash])?
        .map(|row| row.try_get(0))
        .transpose()?)
}

pub(super) fn put_blob(client: &mut impl GenericClient, hash: &str, data: &[u8]) -> Result<()> {
    client.execute(
        "INSERT INTO _flux_blobs (hash, size, data) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&hash, &(data.len() as i64), &data],
    )?;
    Ok(())
}

pub(super) fn insert(client: &mut impl GenericClient, new: &NewVersion, now_us: i64) -> Result<()> {
    client.execute(
        "INSERT INTO _flux_versions
            (id, manifest, files, size, created_at_us, deployed_by, message, activated_at_us)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $5) ON CONFLICT DO NOTHING",
        &[
            &new.id,
            &new.manifest,
            &new.files,
            &new.size,
            &now_us,
            &new.deployed_by,
            &new.message,
        ],
    )?;
    activate(client, &new.id, now_us)
}

pub(super) fn activate(client: &mut impl GenericClient, id: &str, now_us: i64) -> Result<()> {
    // Later than any activation so far, even with a clock that stepped back.
    client.execute(
        "UPDATE _flux_versions SET activated_at_us =
            greatest($2, (SELECT coalesce(max(activated_at_us), 0) + 1 FROM _flux_versions WHERE id <> $1))
         WHERE id = $1",
        &[&id, &now_us],
    )?;
    Ok(())
}

pub(super) fn find(client: &mut impl GenericClient, prefix: &str) -> Result<VersionLookup> {
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM _flux_versions WHERE starts_with(id, $1) ORDER BY id LIMIT 5"
            ),
            &[&prefix],
        )?
        .iter()
        .map(version)
        .collect::<Result<Vec<_>>>()?;
    Ok(lookup(rows))
}
