//! temporary
#[test]
fn print_all() -> anyhow::Result<()> {
    let dir = callsight_eval::default_data_dir()?;
    for name in ["asterisk-en.jsonl", "asterisk-ru.jsonl"] {
        for u in callsight_eval::read_manifest(&dir.join(name))? {
            println!("{}\t{}\t{}", u.id, u.text, callsight_eval::normalize(&u.text, &u.language));
        }
    }
    Ok(())
}
