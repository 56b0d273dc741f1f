-- name: gpu_cards
-- description: Dense bf16 tensor-core peak TFLOP/s of the GPUs vitlab knows, matched to runs.gpu_name by a LIKE pattern (the longest matching pattern wins).
-- inputs: runs
--
-- Dense (no 2:4 sparsity) bf16 tensor peaks at boost clock, from NVIDIA's
-- datasheets, whose headline figures are WITH sparsity (halved here):
--   H100 SXM5 80GB: 1,979 TFLOPS sparse -> 989.4 dense (NVIDIA H100 Tensor
--     Core GPU datasheet, 2023; also the H100 whitepaper, table 1: 989.4)
--   H100 PCIe 80GB: 1,513 sparse -> 756.5 dense (same datasheet)
--   H100 NVL: 1,671 sparse -> 835.5 dense (same datasheet)
--   H200 SXM 141GB: 1,979 sparse -> 989.4 dense (NVIDIA H200 datasheet, 2024)
--   H200 NVL: 1,671 sparse -> 835.5 dense (same datasheet)
--   L40S: 362.05 dense, 733 sparse (NVIDIA L40S datasheet, "BF16 Tensor
--     Core 362.05 | 733 TFLOPS")
--   A100 SXM4/PCIe 80GB and 40GB: 624 sparse -> 312 dense (NVIDIA A100
--     datasheet, 2021)
-- NVML names: "NVIDIA H100 80GB HBM3" is the SXM card, "NVIDIA H100 PCIe",
-- "NVIDIA H100 NVL", "NVIDIA H200", "NVIDIA H200 NVL", "NVIDIA L40S",
-- "NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe".
create or replace view gpu_cards as
with
    cards as (
        select * from (values
            ('%H100%HBM3%', 'H100 SXM', 989.4),
            ('%H100%SXM%', 'H100 SXM', 989.4),
            ('%H100%PCIe%', 'H100 PCIe', 756.5),
            ('%H100 NVL%', 'H100 NVL', 835.5),
            ('%H200%', 'H200', 989.4),
            ('%H200 NVL%', 'H200 NVL', 835.5),
            ('%L40S%', 'L40S', 362.05),
            ('%A100%', 'A100', 312.0)
        ) as t(name_pattern, card, peak_bf16_tflops)
    ),
    final as (
        select * from cards
    )
select * from final;
