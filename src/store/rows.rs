//! Multi-row inserts for the commit path, written as one parameterised statement per chunk of
//! rows.
//!
//! A commit group writes three rows per change (the record, the log entry, the audit entry).
//! Through sea-orm's `insert_many` each value went from the row's `ActiveModel` into a query
//! builder, which cloned it again while rendering the statement, and the models and expression
//! trees were then dropped: profiled under `many-docs`, building the statements took a fifth of
//! the server's CPU, more than SQLite took to execute them. Here the statement text is a plain
//! string of placeholders (one per value, in the backend's style) and the values are moved into
//! it once. Column names come from the entities' `Column` enums, so they cannot drift from the
//! schema.

use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, IdenStatic, Statement, Value,
};

/// Most rows in one statement (SQLite allows 32,766 values per statement; the widest row here
/// has 15).
pub(crate) const CHUNK: usize = 128;

/// The length of the next statement's chunk when `left` items remain: the largest power of two
/// up to `max` (a power of two). Statement texts then come in a handful of sizes, which stay in
/// the connection's prepared-statement cache (sqlx keeps 100); with every count from 1 to 200,
/// most were parsed and planned again at each commit (under `many-docs`, SQLite's parser was 7%
/// of its thread).
pub(crate) fn chunk_len(left: usize, max: usize) -> usize {
    debug_assert!(max.is_power_of_two());
    if left >= max {
        max
    } else {
        // The highest set bit of `left` (> 0).
        1 << (usize::BITS - 1 - left.leading_zeros())
    }
}

/// The lengths of the chunks [`chunk_len`] cuts `n` items into, in order.
fn chunk_lens(mut left: usize, max: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let len = (left > 0).then(|| chunk_len(left, max))?;
        left -= len;
        Some(len)
    })
}

/// `items` cut into chunks of [`chunk_len`].
pub(crate) fn chunks<T>(mut items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    chunk_lens(items.len(), max).map(move |len| {
        let (chunk, rest) = items.split_at(len);
        items = rest;
        chunk
    })
}

/// A table's insert: its columns and what happens on a primary-key conflict.
pub(crate) struct Insert<C: 'static> {
    pub table: &'static str,
    pub columns: &'static [C],
    /// On a conflict on these columns, the others named in `update` take the new row's values.
    pub upsert: Option<(&'static [C], &'static [C])>,
}

impl<C: IdenStatic> Insert<C> {
    /// Inserts `rows` (each one value per column, in `columns` order), in statements of
    /// [`chunk_len`] rows.
    pub(crate) async fn rows(
        &self,
        txn: &DatabaseTransaction,
        rows: impl IntoIterator<Item = Vec<Value>>,
    ) -> Result<(), DbErr> {
        let backend = txn.get_database_backend();
        let rows: Vec<Vec<Value>> = rows.into_iter().collect();
        let lens = chunk_lens(rows.len(), CHUNK);
        let mut rows = rows.into_iter();
        for len in lens {
            let chunk: Vec<Vec<Value>> = rows.by_ref().take(len).collect();
            // Sized for this chunk: a group of one change must not allocate room for 200.
            let mut values = Vec::with_capacity(chunk.len() * self.columns.len());
            for row in &chunk {
                debug_assert_eq!(row.len(), self.columns.len(), "{}", self.table);
            }
            let count = chunk.len();
            values.extend(chunk.into_iter().flatten());
            let sql = self.sql(backend, count);
            txn.execute(Statement::from_sql_and_values(backend, sql, values))
                .await?;
        }
        Ok(())
    }

    /// The statement text for `count` rows.
    fn sql(&self, backend: DbBackend, count: usize) -> String {
        let width = self.columns.len();
        let mut sql = String::with_capacity(64 + width * 24 + count * width * 6);
        sql.push_str("INSERT INTO \"");
        sql.push_str(self.table);
        sql.push_str("\" (");
        push_names(&mut sql, self.columns);
        sql.push_str(") VALUES ");
        let mut n = 0;
        for row in 0..count {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for col in 0..width {
                if col > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                match backend {
                    DbBackend::Postgres => {
                        sql.push('$');
                        sql.push_str(&n.to_string());
                    }
                    _ => sql.push('?'),
                }
            }
            sql.push(')');
        }
        if let Some((key, update)) = self.upsert {
            sql.push_str(" ON CONFLICT (");
            push_names(&mut sql, key);
            sql.push_str(") DO UPDATE SET ");
            for (i, c) in update.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                push_name(&mut sql, c.as_str());
                sql.push_str(" = excluded.");
                push_name(&mut sql, c.as_str());
            }
        }
        sql
    }
}

fn push_names<C: IdenStatic>(sql: &mut String, columns: &[C]) {
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        push_name(sql, c.as_str());
    }
}

/// A column name, quoted (the names are the entities' own, never outside input).
fn push_name(sql: &mut String, name: &str) {
    sql.push('"');
    sql.push_str(name);
    sql.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::record::Column;

    const RECORDS: Insert<Column> = Insert {
        table: "records",
        columns: &[Column::DocumentId, Column::Layer, Column::Id, Column::Seq],
        upsert: Some((
            &[Column::DocumentId, Column::Layer, Column::Id],
            &[Column::Seq],
        )),
    };

    #[test]
    fn chunks_are_powers_of_two_up_to_the_maximum() {
        let lens = |n: usize, max: usize| -> Vec<usize> {
            let items = vec![(); n];
            chunks(&items, max).map(<[()]>::len).collect()
        };
        assert_eq!(lens(0, CHUNK), Vec::<usize>::new());
        assert_eq!(lens(1, CHUNK), [1]);
        assert_eq!(lens(7, CHUNK), [4, 2, 1]);
        assert_eq!(lens(128, CHUNK), [128]);
        assert_eq!(lens(270, CHUNK), [128, 128, 8, 4, 2]);
        assert_eq!(lens(100, 64), [64, 32, 4]);
        assert!((1..=1000).all(|n| lens(n, CHUNK).iter().sum::<usize>() == n));
        assert!((1..=1000).all(|n| lens(n, CHUNK).iter().all(|l| l.is_power_of_two())));
    }

    #[test]
    fn sqlite_statements_use_question_marks() {
        assert_eq!(
            RECORDS.sql(DbBackend::Sqlite, 2),
            "INSERT INTO \"records\" (\"document_id\", \"layer\", \"id\", \"seq\") VALUES \
             (?, ?, ?, ?), (?, ?, ?, ?) ON CONFLICT (\"document_id\", \"layer\", \"id\") \
             DO UPDATE SET \"seq\" = excluded.\"seq\""
        );
    }

    #[test]
    fn postgres_statements_number_their_placeholders() {
        let sql = RECORDS.sql(DbBackend::Postgres, 2);
        assert!(
            sql.contains("VALUES ($1, $2, $3, $4), ($5, $6, $7, $8) ON CONFLICT"),
            "{sql}"
        );
    }
}
