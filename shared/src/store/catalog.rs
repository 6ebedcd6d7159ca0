//! The offices and services, one item.

use super::prelude::*;

#[derive(serde::Deserialize)]
struct CatalogRecord {
    json: String,
}

impl Store {
    pub async fn load_catalog(&self) -> Result<Option<Catalog>, StoreError> {
        let key = key(CATALOG.into(), CATALOG);
        let Some(record) = self
            .read::<CatalogRecord>(Table::Wishes, key, "load_catalog")
            .await?
        else {
            return Ok(None);
        };
        Catalog::from_json(&record.json)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    pub async fn put_catalog(&self, catalog: &Catalog) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(catalog).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut item = key(CATALOG.into(), CATALOG);
        item.insert("json".into(), s(json));
        self.client
            .put_item()
            .table_name(&self.wishes)
            .set_item(Some(item))
            .send()
            .await
            .op("put_catalog")?;
        Ok(())
    }
}
