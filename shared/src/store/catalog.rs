//! The offices and services, one item.

use super::{AttributeValue, CATALOG, Catalog, Op, Store, StoreError, key, s};

impl Store {
    pub async fn load_catalog(&self) -> Result<Option<Catalog>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.wishes)
            .set_key(Some(key(CATALOG.into(), CATALOG)))
            .send()
            .await
            .op("load_catalog")?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let Some(AttributeValue::S(json)) = item.get("json") else {
            return Err(StoreError::Corrupt("catalogue without json".into()));
        };
        Catalog::from_json(json)
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
