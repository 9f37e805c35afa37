use super::*;

/// A PROPFIND answer as Nextcloud 30 sends it (Sabre's serializer), trimmed to two entries.
const NEXTCLOUD: &str = r#"<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">
 <d:response>
  <d:href>/remote.php/dav/files/alice/Reports/</d:href>
  <d:propstat>
   <d:prop>
<d:resourcetype><d:collection/></d:resourcetype>
<d:getlastmodified>Tue, 02 Dec 2025 10:00:00 GMT</d:getlastmodified>
<d:getetag>&quot;692ebc2b7c0a1&quot;</d:getetag>
<oc:fileid>211</oc:fileid>
<oc:size>1536</oc:size>
<oc:permissions>RGDNVCK</oc:permissions>
   </d:prop>
   <d:status>HTTP/1.1 200 OK</d:status>
  </d:propstat>
  <d:propstat>
   <d:prop><d:getcontentlength/><d:getcontenttype/></d:prop>
   <d:status>HTTP/1.1 404 Not Found</d:status>
  </d:propstat>
 </d:response>
 <d:response>
  <d:href>/remote.php/dav/files/alice/Reports/Q1%20%26%20Q2.pdf</d:href>
  <d:propstat>
   <d:prop>
<d:resourcetype/>
<d:getcontentlength>1536</d:getcontentlength>
<d:getcontenttype>application/pdf</d:getcontenttype>
<d:getlastmodified>Tue, 02 Dec 2025 09:30:00 GMT</d:getlastmodified>
<d:getetag>"a1b2"</d:getetag>
<oc:fileid>212</oc:fileid>
<oc:size>1536</oc:size>
<oc:permissions>RGDNVW</oc:permissions>
   </d:prop>
   <d:status>HTTP/1.1 200 OK</d:status>
  </d:propstat>
 </d:response>
</d:multistatus>"#;

#[test]
fn nextclouds_answer_is_read_by_namespace() {
    let resources = parse(NEXTCLOUD.as_bytes()).unwrap();
    assert_eq!(resources.len(), 2);
    let folder = &resources[0];
    assert_eq!(folder.href, "/remote.php/dav/files/alice/Reports/");
    assert!(folder.folder);
    assert_eq!(folder.etag.as_deref(), Some("\"692ebc2b7c0a1\""));
    assert_eq!(folder.file_id.as_deref(), Some("211"));
    assert_eq!(folder.size, Some(1536));
    assert_eq!(folder.content_length, None);
    let file = &resources[1];
    assert_eq!(
        file.href,
        "/remote.php/dav/files/alice/Reports/Q1%20%26%20Q2.pdf"
    );
    assert!(!file.folder);
    assert_eq!(file.content_length, Some(1536));
    assert_eq!(file.content_type.as_deref(), Some("application/pdf"));
    assert_eq!(file.permissions.as_deref(), Some("RGDNVW"));
}

#[test]
fn prefixes_do_not_matter_and_unknown_elements_are_skipped() {
    let body = r#"<?xml version="1.0"?>
<multistatus xmlns="DAV:" xmlns:o="http://owncloud.org/ns" xmlns:x="urn:other">
 <response><href>/x/a.txt</href>
  <propstat><prop><resourcetype/><getcontentlength>3</getcontentlength><o:fileid>9</o:fileid>
   <x:fileid>wrong</x:fileid><x:whatever><href>/not/this</href></x:whatever></prop>
   <status>HTTP/1.1 200 OK</status></propstat></response>
</multistatus>"#;
    let resources = parse(body.as_bytes()).unwrap();
    assert_eq!(resources.len(), 1);
    assert_eq!(resources[0].file_id.as_deref(), Some("9"));
    assert_eq!(resources[0].content_length, Some(3));
}

#[test]
fn spaces_beside_an_entity_are_kept() {
    let body = r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/c/work/</d:href>
<d:propstat><d:prop><d:displayname> Work &amp; travel </d:displayname></d:prop>
<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#;
    let resources = parse(body.as_bytes()).unwrap();
    assert_eq!(resources[0].display_name.as_deref(), Some("Work & travel"));
}

#[test]
fn calendars_privileges_and_calendar_data_are_read() {
    let body = r#"<d:multistatus xmlns:d="DAV:" xmlns:cal="urn:ietf:params:xml:ns:caldav"
 xmlns:x1="http://apple.com/ns/ical/" xmlns:oc="http://owncloud.org/ns">
 <d:response><d:href>/remote.php/dav/calendars/alice/shared_by_bob/</d:href>
  <d:propstat><d:prop>
   <d:resourcetype><d:collection/><cal:calendar/></d:resourcetype>
   <x1:calendar-color>#0082c9</x1:calendar-color>
   <d:current-user-privilege-set><d:privilege><d:read/></d:privilege></d:current-user-privilege-set>
   <cal:supported-calendar-component-set><cal:comp name="VEVENT"/><cal:comp name="VTODO"/></cal:supported-calendar-component-set>
  </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/remote.php/dav/calendars/alice/personal/</d:href>
  <d:propstat><d:prop>
   <d:resourcetype><d:collection/><cal:calendar/></d:resourcetype>
   <d:current-user-privilege-set><d:privilege><d:read/></d:privilege><d:privilege><d:write/></d:privilege></d:current-user-privilege-set>
   <oc:read-only>1</oc:read-only>
  </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/remote.php/dav/calendars/alice/personal/a.ics</d:href>
  <d:propstat><d:prop><d:getetag>"e1"</d:getetag>
   <cal:calendar-data>BEGIN:VCALENDAR&#13;
SUMMARY:a &amp; b&#13;
END:VCALENDAR</cal:calendar-data>
  </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
</d:multistatus>"#;
    let r = parse(body.as_bytes()).unwrap();
    assert!(r[0].calendar && r[0].folder);
    assert_eq!(r[0].calendar_color.as_deref(), Some("#0082c9"));
    assert_eq!(r[0].may_write(), Some(false));
    assert_eq!(r[0].components, ["VEVENT", "VTODO"]);
    assert_eq!(r[1].may_write(), Some(false), "a read-only share");
    assert!(!r[2].calendar);
    assert_eq!(
        r[2].calendar_data.as_deref(),
        Some("BEGIN:VCALENDAR\r\nSUMMARY:a & b\r\nEND:VCALENDAR")
    );
}

#[test]
fn a_search_body_escapes_what_it_is_given() {
    let body = search_by_file_id("/files/a<b>&c", "12").unwrap();
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("<d:href>/files/a&lt;b&gt;&amp;c</d:href>"),
        "{text}"
    );
    assert!(text.contains("<d:literal>12</d:literal>"), "{text}");
    assert!(text.contains("<oc:fileid/>"), "{text}");
}

#[test]
fn broken_xml_is_an_error_not_a_panic() {
    for body in [
        "<d:multistatus xmlns:d=\"DAV:\"><d:response>",
        "<a></b>",
        "\u{0}\u{1}",
    ] {
        let _ = parse(body.as_bytes());
    }
    assert!(parse(b"<a></b>").is_err());
}
