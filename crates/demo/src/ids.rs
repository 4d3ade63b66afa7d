//! Formatting the generator's ids without a heap allocation or `core::fmt`: each id is written
//! into a small stack buffer digit by digit (ids are made for every command, so this is on the
//! hot path) and parsed, so validated, by the domain's own id types.

use fundledger_domain::{BeneficiaryRef, CommandId, IdError, PaymentId, Period, PlanId, RegionCode, TaxBatchRef};

/// Room for the longest id the domain accepts (40 bytes) plus slack to detect overflow.
const STACK_ID_BYTES: usize = 48;

/// An id being written.
struct IdText {
    buf: [u8; STACK_ID_BYTES],
    len: usize,
}

impl IdText {
    fn new(prefix: &str) -> IdText {
        let mut t = IdText { buf: [0; STACK_ID_BYTES], len: 0 };
        t.text(prefix);
        t
    }

    fn text(&mut self, s: &str) -> &mut IdText {
        self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
        self
    }

    /// Decimal digits of `n`, zero-padded to at least `width`.
    fn number(&mut self, mut n: u64, width: usize) -> &mut IdText {
        let mut digits = [0u8; 20];
        let mut k = 0;
        while n > 0 || k < width.max(1) {
            digits[k] = b'0' + (n % 10) as u8;
            n /= 10;
            k += 1;
        }
        for d in digits[..k].iter().rev() {
            self.buf[self.len] = *d;
            self.len += 1;
        }
        self
    }

    fn yyyymm(&mut self, period: Period) -> &mut IdText {
        self.number(u64::from(period.year()), 4).number(u64::from(period.month()), 2)
    }

    fn parse<T>(&self, parse: fn(&str) -> Result<T, IdError>) -> T {
        let text = std::str::from_utf8(&self.buf[..self.len]).expect("ids are ASCII");
        parse(text).unwrap_or_else(|e| panic!("generated id {text:?} is invalid: {e}"))
    }
}

/// `demo-<seed>-<sequence>`: unique within a generated history, stable across runs.
pub fn command_id(seed: u64, seq: u64) -> CommandId {
    IdText::new("demo-").number(seed, 1).text("-").number(seq, 9).parse(CommandId::parse)
}

/// `PL-620100-2024-03`, and `PL-620100-2024-03-R1` for the plan resubmitted after a rejection.
pub fn plan_id(region: RegionCode, period: Period, attempt: u8) -> PlanId {
    let mut t = IdText::new("PL-");
    t.number(u64::from(region.get()), 6).text("-").number(u64::from(period.year()), 4).text("-");
    t.number(u64::from(period.month()), 2);
    if attempt > 0 {
        t.text("-R").number(u64::from(attempt), 1);
    }
    t.parse(PlanId::parse)
}

/// `PY-620100-202403-0000123`: unit, period and a per-unit-month sequence, so unique.
pub fn payment_id(region: RegionCode, period: Period, seq: u32) -> PaymentId {
    let mut t = IdText::new("PY-");
    t.number(u64::from(region.get()), 6).text("-").yyyymm(period).text("-").number(u64::from(seq), 7);
    t.parse(PaymentId::parse)
}

/// `TB-620100-202403-007` for premium batches; `IN-` for interest, `OT-` for other income.
pub fn tax_batch(prefix: &str, region: RegionCode, period: Period, seq: u32) -> TaxBatchRef {
    let mut t = IdText::new(prefix);
    t.text("-").number(u64::from(region.get()), 6).text("-").yyyymm(period).text("-").number(u64::from(seq), 3);
    t.parse(TaxBatchRef::parse)
}

/// `B-620100-000123`: a pseudonymous person or household, never shaped like an ID number.
pub fn beneficiary(region: RegionCode, seq: u32) -> BeneficiaryRef {
    IdText::new("B-")
        .number(u64::from(region.get()), 6)
        .text("-")
        .number(u64::from(seq), 6)
        .parse(BeneficiaryRef::parse)
}

/// `ORG-620100-0012`: an organisation receiving prevention or other spending.
pub fn organisation(region: RegionCode, seq: u32) -> BeneficiaryRef {
    IdText::new("ORG-")
        .number(u64::from(region.get()), 6)
        .text("-")
        .number(u64::from(seq), 4)
        .parse(BeneficiaryRef::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_documented_shapes() {
        let r = RegionCode::parse("620100").unwrap();
        let p = Period::parse("2024-03").unwrap();
        assert_eq!(plan_id(r, p, 0).as_str(), "PL-620100-2024-03");
        assert_eq!(plan_id(r, p, 1).as_str(), "PL-620100-2024-03-R1");
        assert_eq!(payment_id(r, p, 123).as_str(), "PY-620100-202403-0000123");
        assert_eq!(tax_batch("TB", r, p, 7).as_str(), "TB-620100-202403-007");
        assert_eq!(beneficiary(r, 123).as_str(), "B-620100-000123");
        assert_eq!(command_id(u64::MAX, 12).as_str(), "demo-18446744073709551615-000000012");
        assert_eq!(command_id(0, 1_234_567_890).as_str(), "demo-0-1234567890");
        assert_eq!(organisation(r, 0).as_str(), "ORG-620100-0000");
    }
}
