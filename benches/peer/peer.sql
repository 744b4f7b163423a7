-- The peer: what a finance analyst would run over the billing CSVs instead of vasooli.
-- DuckDB, with the rules of docs/RULES.md written as SQL (surcharge off: the policy's
-- monthly rate is 0, so every charge is a bill and every credit a payment).
-- Parameters are set by peer.py with SET VARIABLE: as_of, p_start, p_end.

-- name: defaulters
WITH credits AS (
    SELECT account_no, sum(amount) AS paid
    FROM payments WHERE paid_on <= getvariable('as_of') GROUP BY account_no
), charges AS (
    SELECT b.account_no, b.due_on, b.amount,
           sum(b.amount) OVER (PARTITION BY b.account_no ORDER BY b.due_on, b.row_no
                               ROWS UNBOUNDED PRECEDING) AS cumulative
    FROM bills b WHERE b.issued_on <= getvariable('as_of')
), unpaid AS (
    SELECT c.account_no, c.due_on,
           greatest(least(c.cumulative - coalesce(k.paid, 0), c.amount), 0) AS unpaid
    FROM charges c LEFT JOIN credits k USING (account_no)
    WHERE c.due_on < getvariable('as_of')
), owed AS (
    SELECT account_no, sum(unpaid) AS overdue_arrears,
           min(due_on) FILTER (WHERE unpaid > 0) AS oldest_due_on
    FROM unpaid GROUP BY account_no
)
SELECT o.account_no, o.overdue_arrears, o.oldest_due_on,
       date_diff('day', o.oldest_due_on, getvariable('as_of')) AS days_overdue,
       CASE WHEN date_diff('day', o.oldest_due_on, getvariable('as_of')) <= 30 THEN '0-30'
            WHEN date_diff('day', o.oldest_due_on, getvariable('as_of')) <= 60 THEN '31-60'
            WHEN date_diff('day', o.oldest_due_on, getvariable('as_of')) <= 90 THEN '61-90'
            WHEN date_diff('day', o.oldest_due_on, getvariable('as_of')) <= 180 THEN '91-180'
            WHEN date_diff('day', o.oldest_due_on, getvariable('as_of')) <= 365 THEN '181-365'
            ELSE '366+' END AS aging_bucket
FROM owed o
WHERE o.overdue_arrears >= 500
ORDER BY o.overdue_arrears DESC, o.account_no;

-- name: rankings
WITH
dates AS (
    SELECT 'opening' AS which, (getvariable('p_start') - INTERVAL 1 DAY)::DATE AS on
    UNION ALL SELECT 'closing', getvariable('p_end')
),
credits_at AS (
    SELECT d.which, p.account_no, sum(p.amount) AS paid
    FROM payments p JOIN dates d ON p.paid_on <= d.on GROUP BY d.which, p.account_no
),
charges_at AS (
    SELECT d.which, d.on, b.account_no, b.due_on, b.amount,
           sum(b.amount) OVER (PARTITION BY d.which, b.account_no ORDER BY b.due_on, b.row_no
                               ROWS UNBOUNDED PRECEDING) AS cumulative
    FROM bills b JOIN dates d ON b.issued_on <= d.on
),
principal_at AS (
    -- Principal arrears of each consumer as of the day before P and as of P's last day.
    SELECT c.which, c.account_no,
           greatest(least(c.cumulative - coalesce(k.paid, 0), c.amount), 0) AS unpaid,
           c.due_on < c.on AS overdue
    FROM charges_at c LEFT JOIN credits_at k USING (which, account_no)
),
arrears AS (
    SELECT c.subdivision,
           sum(a.unpaid) FILTER (WHERE a.which = 'opening' AND a.overdue) AS opening_arrears,
           sum(a.unpaid) FILTER (WHERE a.which = 'closing' AND a.overdue) AS closing_arrears
    FROM principal_at a JOIN consumers c USING (account_no) GROUP BY c.subdivision
),
billed AS (
    SELECT c.subdivision, sum(b.amount) AS billed
    FROM bills b JOIN consumers c USING (account_no)
    WHERE b.issued_on BETWEEN getvariable('p_start') AND getvariable('p_end')
    GROUP BY c.subdivision
),
collected AS (
    SELECT c.subdivision, sum(p.amount) AS collected,
           sum(p.amount) FILTER (WHERE p.channel IN
               ('online_portal','app','upi','bbps','card','net_banking')) AS digital
    FROM payments p JOIN consumers c USING (account_no)
    WHERE p.paid_on BETWEEN getvariable('p_start') AND getvariable('p_end')
    GROUP BY c.subdivision
),
mobile_on AS (
    SELECT account_no, min(registered_on) AS first_on FROM (
        SELECT account_no, connected_on AS registered_on FROM consumers
        WHERE mobile IS NOT NULL AND mobile <> ''
        UNION ALL SELECT account_no, registered_on FROM mobiles)
    GROUP BY account_no
),
coverage AS (
    SELECT c.subdivision, count(*) AS active,
           count(*) FILTER (WHERE m.first_on <= getvariable('p_end')) AS with_mobile
    FROM consumers c LEFT JOIN mobile_on m USING (account_no)
    WHERE c.connected_on <= getvariable('p_end')
    GROUP BY c.subdivision
),
metrics AS (
    SELECT o.code AS office_code, o.name AS office_name,
           coalesce(b.billed, 0) AS billed, coalesce(k.collected, 0) AS collected,
           coalesce(a.opening_arrears, 0) AS opening_arrears,
           coalesce(a.closing_arrears, 0) AS closing_arrears,
           CASE WHEN coalesce(b.billed, 0) = 0 THEN NULL
                ELSE coalesce(k.collected, 0)::DOUBLE * 100 / b.billed::DOUBLE END AS eff,
           CASE WHEN coalesce(a.opening_arrears, 0) = 0 THEN NULL
                ELSE (a.opening_arrears - coalesce(a.closing_arrears, 0))::DOUBLE * 100
                     / a.opening_arrears::DOUBLE END AS reduction,
           CASE WHEN coalesce(k.collected, 0) = 0 THEN NULL
                ELSE coalesce(k.digital, 0)::DOUBLE * 100 / k.collected::DOUBLE END AS digital,
           CASE WHEN coalesce(v.active, 0) = 0 THEN NULL
                ELSE v.with_mobile::DOUBLE * 100 / v.active::DOUBLE END AS mobile
    FROM offices o
    LEFT JOIN billed b ON b.subdivision = o.code
    LEFT JOIN collected k ON k.subdivision = o.code
    LEFT JOIN arrears a ON a.subdivision = o.code
    LEFT JOIN coverage v ON v.subdivision = o.code
    WHERE o.level = 'subdivision'
),
scored AS (
    -- DuckDB's least and greatest skip NULLs, so a null metric is tested first.
    SELECT *,
        100 * ((CASE WHEN eff IS NULL THEN 0 ELSE 40 * greatest(least(eff, 100), 0) / 100 END)
             + (CASE WHEN reduction IS NULL THEN 0 ELSE 25 * greatest(least(reduction, 100), 0) / 100 END)
             + (CASE WHEN digital IS NULL THEN 0 ELSE 10 * greatest(least(digital, 100), 0) / 100 END)
             + (CASE WHEN mobile IS NULL THEN 0 ELSE 10 * greatest(least(mobile, 100), 0) / 100 END))
        / ((CASE WHEN eff IS NULL THEN 0 ELSE 40 END) + (CASE WHEN reduction IS NULL THEN 0 ELSE 25 END)
         + (CASE WHEN digital IS NULL THEN 0 ELSE 10 END) + (CASE WHEN mobile IS NULL THEN 0 ELSE 10 END))
        AS score
    FROM metrics WHERE billed > 0
)
SELECT row_number() OVER (ORDER BY score DESC, eff DESC, office_code) AS rank,
       office_code, office_name, billed, collected, eff AS collection_efficiency_pct,
       opening_arrears, closing_arrears, reduction AS arrears_reduction_pct,
       digital AS digital_share_pct, mobile AS mobile_coverage_pct, score
FROM scored ORDER BY rank;
