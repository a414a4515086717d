//! Page geometry and the conversion of positions between the coordinate systems annotations
//! travel in.
//!
//! - **PDF user space** (PDF files, XFDF): origin at the bottom left of the unrotated page,
//!   y up; the visible area is the CropBox (defaulting to the MediaBox) and `/Rotate` turns the
//!   page clockwise when displayed.
//! - **Instant JSON** (`bbox` = `[left, top, width, height]`, points in `rects`, `lines`…):
//!   origin at the top left of the page *as displayed* (cropped, then rotated), y down.
//!
//! The conversions are pure functions of a page's [`PageGeometry`], recorded for every page at
//! upload, so a position converts exactly (no rendering, no guessing) in both directions.

use serde::{Deserialize, Serialize};

/// A rectangle as PDF writes it: `[llx, lly, urx, ury]` (any corner order; see [`normalise`]).
pub type PdfRect = [f64; 4];

/// What Quire records about one page: its boxes and its rotation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PageGeometry {
    /// The MediaBox, normalised (`llx <= urx`, `lly <= ury`).
    #[schema(value_type = Vec<f64>)]
    pub media_box: PdfRect,
    /// The CropBox, normalised and clipped to the MediaBox (the MediaBox when absent).
    #[schema(value_type = Vec<f64>)]
    pub crop_box: PdfRect,
    /// `/Rotate`, normalised to 0, 90, 180 or 270.
    pub rotate: u16,
}

/// US Letter: the MediaBox a page gets when its file names none (as viewers do).
pub const DEFAULT_MEDIA_BOX: PdfRect = [0.0, 0.0, 612.0, 792.0];

/// Puts a rectangle's corners in order: lower left first.
pub fn normalise(r: PdfRect) -> PdfRect {
    [
        r[0].min(r[2]),
        r[1].min(r[3]),
        r[0].max(r[2]),
        r[1].max(r[3]),
    ]
}

/// `/Rotate` as one of 0, 90, 180, 270. The PDF spec requires a multiple of 90; anything else
/// is treated as the nearest lower multiple, as viewers do.
pub fn normalise_rotation(rotate: i64) -> u16 {
    (rotate.rem_euclid(360) / 90 * 90) as u16
}

impl PageGeometry {
    /// Geometry from the raw values found in a page dictionary (inherited values resolved).
    pub fn new(media_box: Option<PdfRect>, crop_box: Option<PdfRect>, rotate: i64) -> Self {
        let media = normalise(media_box.unwrap_or(DEFAULT_MEDIA_BOX));
        let crop = crop_box.map(normalise).map_or(media, |c| {
            // The visible area is the intersection; an empty one falls back to the MediaBox.
            let r = [
                c[0].max(media[0]),
                c[1].max(media[1]),
                c[2].min(media[2]),
                c[3].min(media[3]),
            ];
            if r[0] < r[2] && r[1] < r[3] {
                r
            } else {
                media
            }
        });
        PageGeometry {
            media_box: media,
            crop_box: crop,
            rotate: normalise_rotation(rotate),
        }
    }

    /// Width and height of the page as displayed (cropped, then rotated), in points.
    pub fn displayed_size(&self) -> (f64, f64) {
        let [x0, y0, x1, y1] = self.crop_box;
        let (w, h) = (x1 - x0, y1 - y0);
        if self.rotate % 180 == 90 {
            (h, w)
        } else {
            (w, h)
        }
    }

    /// A displayed point (origin top left, y down) in PDF user space.
    pub fn to_pdf_point(&self, x: f64, y: f64) -> (f64, f64) {
        let [x0, y0, x1, y1] = self.crop_box;
        match self.rotate {
            90 => (x0 + y, y0 + x),
            180 => (x1 - x, y0 + y),
            270 => (x1 - y, y1 - x),
            _ => (x0 + x, y1 - y),
        }
    }

    /// A PDF user-space point as a displayed point (the inverse of [`Self::to_pdf_point`]).
    pub fn from_pdf_point(&self, u: f64, v: f64) -> (f64, f64) {
        let [x0, y0, x1, y1] = self.crop_box;
        match self.rotate {
            90 => (v - y0, u - x0),
            180 => (x1 - u, v - y0),
            270 => (y1 - v, x1 - u),
            _ => (u - x0, y1 - v),
        }
    }

    /// An Instant JSON `bbox` (`[left, top, width, height]`, displayed) as a normalised PDF
    /// rectangle.
    pub fn bbox_to_pdf(&self, bbox: [f64; 4]) -> PdfRect {
        let [l, t, w, h] = bbox;
        let (u0, v0) = self.to_pdf_point(l, t);
        let (u1, v1) = self.to_pdf_point(l + w, t + h);
        normalise([u0, v0, u1, v1])
    }

    /// A PDF rectangle as an Instant JSON `bbox` (the inverse of [`Self::bbox_to_pdf`]).
    pub fn pdf_to_bbox(&self, rect: PdfRect) -> [f64; 4] {
        let (a0, b0) = self.from_pdf_point(rect[0], rect[1]);
        let (a1, b1) = self.from_pdf_point(rect[2], rect[3]);
        let (l, t) = (a0.min(a1), b0.min(b1));
        [l, t, (a1 - a0).abs(), (b1 - b0).abs()]
    }
}

/// Reads the geometry of every page of a parsed document, in page order. Inheritable entries
/// (`MediaBox`, `CropBox`, `Rotate`) are looked up through at most [`MAX_INHERITANCE`] parents,
/// so a cyclic page tree cannot loop.
pub fn read_pages(doc: &lopdf::Document) -> Vec<PageGeometry> {
    doc.get_pages()
        .values()
        .map(|&id| {
            let media = inherited(doc, id, b"MediaBox").and_then(|o| rect(doc, o));
            let crop = inherited(doc, id, b"CropBox").and_then(|o| rect(doc, o));
            let rotate = inherited(doc, id, b"Rotate")
                .and_then(|o| number(doc, o))
                .map_or(0, |r| r as i64);
            PageGeometry::new(media, crop, rotate)
        })
        .collect()
}

/// How many `/Parent` links inheritance follows.
pub const MAX_INHERITANCE: usize = 64;

fn inherited<'a>(
    doc: &'a lopdf::Document,
    page: lopdf::ObjectId,
    key: &[u8],
) -> Option<&'a lopdf::Object> {
    let mut dict = doc.get_dictionary(page).ok()?;
    for _ in 0..MAX_INHERITANCE {
        if let Ok(value) = dict.get(key) {
            return Some(value);
        }
        let parent = dict.get(b"Parent").ok()?.as_reference().ok()?;
        dict = doc.get_dictionary(parent).ok()?;
    }
    None
}

fn number(doc: &lopdf::Document, o: &lopdf::Object) -> Option<f64> {
    match doc.dereference(o).ok()?.1 {
        lopdf::Object::Integer(i) => Some(*i as f64),
        lopdf::Object::Real(r) => Some(f64::from(*r)),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

fn rect(doc: &lopdf::Document, o: &lopdf::Object) -> Option<PdfRect> {
    let arr = doc.dereference(o).ok()?.1.as_array().ok()?;
    if arr.len() != 4 {
        return None;
    }
    let mut r = [0.0; 4];
    for (slot, item) in r.iter_mut().zip(arr) {
        *slot = number(doc, item)?;
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f64; 4], b: [f64; 4]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
    }

    fn letter(rotate: i64) -> PageGeometry {
        PageGeometry::new(Some([0.0, 0.0, 612.0, 792.0]), None, rotate)
    }

    #[test]
    fn unrotated_pages_flip_the_y_axis() {
        let g = letter(0);
        // 10 pt from the left, 20 pt from the top, 30 wide, 40 high.
        assert!(close(
            g.bbox_to_pdf([10.0, 20.0, 30.0, 40.0]),
            [10.0, 732.0, 40.0, 772.0]
        ));
        assert_eq!(g.displayed_size(), (612.0, 792.0));
    }

    #[test]
    fn a_page_rotated_90_shows_its_lower_left_corner_at_the_top_left() {
        let g = letter(90);
        assert_eq!(g.displayed_size(), (792.0, 612.0));
        assert_eq!(g.to_pdf_point(0.0, 0.0), (0.0, 0.0));
        // Along the displayed top edge is up the unrotated left edge.
        assert_eq!(g.to_pdf_point(100.0, 0.0), (0.0, 100.0));
        assert!(close(
            g.bbox_to_pdf([10.0, 20.0, 30.0, 40.0]),
            [20.0, 10.0, 60.0, 40.0]
        ));
    }

    #[test]
    fn a_page_rotated_180_shows_its_lower_right_corner_at_the_top_left() {
        let g = letter(180);
        assert_eq!(g.to_pdf_point(0.0, 0.0), (612.0, 0.0));
        assert!(close(
            g.bbox_to_pdf([10.0, 20.0, 30.0, 40.0]),
            [572.0, 20.0, 602.0, 60.0]
        ));
    }

    #[test]
    fn a_page_rotated_270_shows_its_upper_right_corner_at_the_top_left() {
        let g = letter(270);
        assert_eq!(g.displayed_size(), (792.0, 612.0));
        assert_eq!(g.to_pdf_point(0.0, 0.0), (612.0, 792.0));
        assert!(close(
            g.bbox_to_pdf([10.0, 20.0, 30.0, 40.0]),
            [552.0, 752.0, 592.0, 782.0]
        ));
    }

    #[test]
    fn an_offset_crop_box_moves_the_origin() {
        let g = PageGeometry::new(
            Some([0.0, 0.0, 612.0, 792.0]),
            Some([100.0, 50.0, 500.0, 700.0]),
            0,
        );
        assert_eq!(g.displayed_size(), (400.0, 650.0));
        assert!(close(
            g.bbox_to_pdf([0.0, 0.0, 10.0, 10.0]),
            [100.0, 690.0, 110.0, 700.0]
        ));
        let r = PageGeometry { rotate: 90, ..g };
        assert_eq!(r.to_pdf_point(0.0, 0.0), (100.0, 50.0));
    }

    #[test]
    fn conversions_round_trip_for_every_rotation_and_offset_crop_box() {
        let bbox = [12.5, 33.25, 101.0, 7.75];
        for rotate in [0, 90, 180, 270, -90, 450] {
            for crop in [None, Some([30.0, 40.0, 400.0, 600.0])] {
                let g = PageGeometry::new(Some([-10.0, 5.0, 610.0, 800.0]), crop, rotate);
                let back = g.pdf_to_bbox(g.bbox_to_pdf(bbox));
                assert!(close(back, bbox), "rotate {rotate} crop {crop:?}: {back:?}");
            }
        }
    }

    #[test]
    fn boxes_are_normalised_and_crop_boxes_clipped() {
        let g = PageGeometry::new(
            Some([612.0, 792.0, 0.0, 0.0]),
            Some([-50.0, 100.0, 700.0, 200.0]),
            -90,
        );
        assert_eq!(g.media_box, [0.0, 0.0, 612.0, 792.0]);
        assert_eq!(g.crop_box, [0.0, 100.0, 612.0, 200.0]);
        assert_eq!(g.rotate, 270);
        let disjoint = PageGeometry::new(None, Some([1000.0, 1000.0, 1100.0, 1100.0]), 45);
        assert_eq!(disjoint.crop_box, DEFAULT_MEDIA_BOX);
        assert_eq!(disjoint.rotate, 0);
    }

    #[test]
    fn geometry_is_read_with_inheritance_from_the_page_tree() {
        let objects: Vec<Vec<u8>> = [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 /MediaBox [0 0 500 400] /Rotate 90 >>",
            "<< /Type /Page /Parent 2 0 R >>",
            "<< /Type /Page /Parent 2 0 R /CropBox [10 20 300 350.5] /Rotate 180 >>",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        let doc = lopdf::Document::load_mem(&crate::pdf::assemble(&objects)).unwrap();
        let pages = read_pages(&doc);
        assert_eq!(
            pages,
            vec![
                PageGeometry::new(Some([0.0, 0.0, 500.0, 400.0]), None, 90),
                PageGeometry::new(
                    Some([0.0, 0.0, 500.0, 400.0]),
                    Some([10.0, 20.0, 300.0, 350.5]),
                    180
                ),
            ]
        );
    }
}
