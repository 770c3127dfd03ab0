"""Training the embedded SAM 3: the training forward equals the model's, matching and losses are SAM 3's,
only training phrases are prompted, and a short run lowers the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sam_core.sam3.common import box_cxcywh_to_xyxy
from sam_core.sam3.nano import build_sam3_nano_from_config
from sam_core.scenes.concepts import HELD_OUT_PHRASES
from sam_core.training.concepts.data import images_to_tensor, sample_batch
from sam_core.training.concepts.forward import forward_prompts, geometric_prompt, per_prompt_backbone
from sam_core.training.concepts.objectives import (
    RECIPES,
    LossWeights,
    concept_losses,
    generalized_box_iou,
    hungarian_match,
    iou_aware_bce,
    presence_loss,
)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_sam3_nano_from_config().eval()


def test_training_forward_last_layer_is_forward_grounding(model):
    batch = sample_batch(3, seed=1, n_images=1, prompts_per_image=2)
    pixels = images_to_tensor(batch.images, "cpu")
    with torch.no_grad():
        ours = forward_prompts(model, pixels, batch.prompts)
        for k, prompt in enumerate(batch.prompts):
            backbone = per_prompt_backbone(model.backbone.forward_image(pixels), torch.tensor([0]))
            backbone.update(model.backbone.forward_text([prompt.text]))
            ref = model.forward_grounding(backbone, geometric_prompt([prompt], pixels.shape[-1], "cpu"))
            torch.testing.assert_close(ours["logits"][-1, k], ref["pred_logits"][0, :, 0], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(ours["boxes"][-1, k], ref["pred_boxes"][0], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(ours["presence"][-1, k], ref["presence_logit_dec"][0, 0], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(ours["masks"][k], ref["pred_masks"][0], atol=1e-3, rtol=1e-3)


def test_hungarian_matching_recovers_a_permutation():
    truth = torch.tensor([[0.2, 0.2, 0.1, 0.1], [0.7, 0.6, 0.2, 0.3], [0.5, 0.5, 0.3, 0.1]])
    preds = torch.cat([torch.rand(5, 4) * 0.05 + 0.9, truth[[2, 0, 1]]])  # queries 5, 6, 7 are the truths
    logits = torch.zeros(8)
    q, t = hungarian_match(logits, preds, truth)
    assert dict(zip(t.tolist(), q.tolist(), strict=True)) == {0: 6, 1: 7, 2: 5}


def test_giou_is_one_on_identical_boxes_and_negative_when_apart():
    a = box_cxcywh_to_xyxy(torch.tensor([[0.3, 0.3, 0.2, 0.2]]))
    b = box_cxcywh_to_xyxy(torch.tensor([[0.8, 0.8, 0.1, 0.1]]))
    assert generalized_box_iou(a, a).item() == pytest.approx(1.0)
    assert generalized_box_iou(a, b).item() < 0


@pytest.mark.parametrize("recipe", RECIPES)
def test_losses_prefer_the_truth(recipe):
    weights = LossWeights.for_recipe(recipe)
    truth = torch.tensor([[0.3, 0.4, 0.2, 0.2]])
    mask = torch.zeros(1, 32, 32, dtype=torch.bool)
    mask[0, 10:16, 6:13] = True
    good_logits = torch.full((1, 1, 4), -6.0)
    good_logits[0, 0, 2] = 6.0
    boxes = torch.rand(1, 1, 4, 4) * 0.1 + 0.8
    good_boxes = boxes.clone()
    good_boxes[0, 0, 2] = truth[0]
    masks = torch.full((1, 4, 32, 32), -8.0)
    good_masks = masks.clone()
    good_masks[0, 2][mask[0]] = 8.0
    bad = concept_losses({"logits": torch.zeros(1, 1, 4), "boxes": boxes, "presence": torch.zeros(1, 1),
                          "masks": masks}, [truth], [mask], weights)
    good = concept_losses({"logits": good_logits, "boxes": good_boxes, "presence": torch.full((1, 1), 6.0),
                           "masks": good_masks}, [truth], [mask], weights)
    for key in ("cls", "l1", "giou", "mask", "presence", "total"):
        assert good[key] < bad[key], key
    assert good["l1"] < 1e-6 and good["giou"] < 1e-5


def test_sam3_recipe_is_metas_config_and_iou_aware_bce_matches_its_formula():
    w = LossWeights.for_recipe("sam3")
    assert (w.cls, w.presence, w.l1, w.giou, w.mask * 20, w.mask * 1) == (20.0, 20.0, 5.0, 2.0, 200.0, 10.0)
    assert (w.pos_weight, w.iou_alpha, w.neg_gamma, w.presence_alpha) == (10.0, 0.25, 2.0, 0.5)
    with pytest.raises(ValueError, match="unknown loss recipe"):
        LossWeights.for_recipe("nope")
    logits = torch.tensor([1.0, -2.0, 0.5])
    iou = torch.tensor([0.64])
    got = iou_aware_bce(logits, np.array([0]), iou, w)
    p = torch.sigmoid(logits)
    t = p[0] ** 0.25 * 0.64 ** 0.75  # the matched query's soft target
    pos = 10.0 * -(t * torch.log(p[0]) + (1 - t) * torch.log(1 - p[0]))
    neg = sum(p[i] ** 2 * -torch.log(1 - p[i]) for i in (1, 2))
    assert got.item() == pytest.approx(((pos + neg) / 3).item(), rel=1e-5)
    # presence: alpha-weighted BCE (0.5 on both classes): half the plain BCE
    logit, present = torch.tensor([0.3, -1.2]), torch.tensor([1.0, 0.0])
    assert presence_loss(logit, present, w).item() == pytest.approx(
        0.5 * F.binary_cross_entropy_with_logits(logit, present).item(), rel=1e-6)


def test_training_prompts_never_use_held_out_phrases():
    held_out = set(HELD_OUT_PHRASES)
    kinds = set()
    for step in range(40):
        for prompt in sample_batch(step, seed=0, n_images=2, prompts_per_image=4).prompts:
            assert prompt.text not in held_out
            kinds.add(prompt.kind)
            assert prompt.present == (prompt.kind != "negative")
            if prompt.box is not None:
                assert prompt.kind == "exemplar"
    assert kinds == {"positive", "negative", "exemplar"}


def test_contrast_pairs_differ_in_their_first_word_only_and_leave_the_default_mix_unchanged():
    from sam_core.training.concepts.data import PromptMix

    default = sample_batch(3, seed=0, n_images=2, prompts_per_image=4)
    assert [p.text for p in default.prompts] == [p.text for p in sample_batch(
        3, seed=0, n_images=2, prompts_per_image=4, mix=PromptMix(paired=0.0)).prompts]
    held_out, pairs = set(HELD_OUT_PHRASES), 0
    for step in range(20):
        batch = sample_batch(step, seed=1, n_images=2, prompts_per_image=4, mix=PromptMix(paired=1.0))
        for i in range(2):
            first, second = [p for p in batch.prompts if p.image_index == i][:2]
            if (first.kind, second.kind) != ("positive", "negative"):
                continue
            if first.text.split()[1:] == second.text.split()[1:] and first.text != second.text:
                pairs += 1
                assert first.present and not second.present
                assert first.text not in held_out and second.text not in held_out
    assert pairs >= 25  # most scenes have one (a street with cars of one colour, an orchard with ripe apples)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
def test_a_few_steps_on_one_batch_lower_the_loss(recipe):
    torch.manual_seed(0)
    net = build_sam3_nano_from_config().train()
    net.backbone.vision_backbone.trunk.requires_grad_(False)  # as the training run (--freeze-trunk 1)
    batch = sample_batch(0, seed=2, n_images=1, prompts_per_image=3)
    pixels = images_to_tensor(batch.images, "cpu")
    boxes = [torch.from_numpy(p.boxes) for p in batch.prompts]
    masks = [torch.from_numpy(p.masks) for p in batch.prompts]
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    for _ in range(8):
        loss = concept_losses(forward_prompts(net, pixels, batch.prompts), boxes, masks,
                              LossWeights.for_recipe(recipe))["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-2:]) < losses[0]


@pytest.mark.slow
def test_training_resumes_and_exports(tmp_path):
    from safetensors.torch import load_file

    from sam_core.training.concepts.loop import ConceptTrainConfig, train

    cfg = ConceptTrainConfig(out=str(tmp_path), minutes=5, max_steps=2, n_images=1, prompts_per_image=2,
                             save_every=1, log_every=1, sam1="")
    train(cfg)
    cfg.max_steps = 3
    export = train(cfg)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["step"] == 3
    assert set(load_file(str(export))) == set(build_sam3_nano_from_config().state_dict())
    assert len((tmp_path / "training_log.csv").read_text().splitlines()) == 4  # header + 3 steps


def test_freeze_trunk_0_trains_the_trunk_at_its_lr_scale():
    """The colour fix of the model card: --freeze-trunk 0 puts every tensor of the nano SAM's encoder in the
    optimiser, at 0.25 x lr; the pixel-colour branch trains at the full rate, frozen trunk or not."""
    from sam_core.sam3.nano import build_sam3_nano_from_config
    from sam_core.training.concepts.loop import ConceptTrainConfig, make_optimizer

    net = build_sam3_nano_from_config()
    trunk = [p for n, p in net.named_parameters() if n.startswith("backbone.vision_backbone.trunk.encoder.")]
    colour = list(net.backbone.vision_backbone.trunk.pixel_colour.parameters())
    assert trunk and colour
    frozen = make_optimizer(net, ConceptTrainConfig(freeze_trunk=1))
    assert not any(p.requires_grad for p in trunk) and frozen.param_groups[1]["params"] == []
    assert all(p.requires_grad for p in colour)
    assert {id(p) for p in colour} <= {id(p) for p in frozen.param_groups[0]["params"]}
    net.requires_grad_(True)
    trained = make_optimizer(net, ConceptTrainConfig(freeze_trunk=0))
    group = trained.param_groups[1]
    assert group["lr_scale"] == 0.25 and {id(p) for p in group["params"]} == {id(p) for p in trunk}
    assert not {id(p) for p in trained.param_groups[0]["params"]} & {id(p) for p in trunk}


def test_alignment_loss_is_the_hand_computed_multi_positive_softmax():
    from sam_core.training.concepts.alignment import TEMPERATURE, Region, alignment_loss, pooled_regions

    # two cells of a 1 x 2 map; region 0 covers the left cell, region 1 both cells (weights 1/2, 1/2)
    features = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])  # [1, d=2, 1, 2]
    left = np.zeros((2, 4), bool)
    left[:, :2] = True
    regions = [Region(0, left, (0,)), Region(0, np.ones((2, 4), bool), (1, 2))]
    pooled = pooled_regions(features, regions)
    assert torch.allclose(pooled, torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
    phrases = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    loss = alignment_loss(pooled, phrases, regions)
    cos = F.normalize(pooled, dim=-1) @ F.normalize(phrases, dim=-1).T / TEMPERATURE
    p = cos.softmax(-1)
    expected = -(torch.log(p[0, 0]) + torch.log(p[1, 1] + p[1, 2])) / 2
    assert torch.isclose(loss, expected)
    log_sharp = (F.normalize(pooled, dim=-1) @ F.normalize(phrases, dim=-1).T / 0.03).log_softmax(-1)
    expected_sharp = -(log_sharp[0, 0] + torch.logaddexp(log_sharp[1, 1], log_sharp[1, 2])) / 2
    assert torch.isclose(alignment_loss(pooled, phrases, regions, temperature=0.03), expected_sharp, rtol=1e-3)


def test_alignment_regions_leave_held_out_compositions_out_and_the_loss_trains(model):
    from sam_core.scenes.concepts import TRAIN_PHRASES
    from sam_core.training.concepts.alignment import model_alignment_loss

    batch = sample_batch(0, seed=0, n_images=2, prompts_per_image=1)
    assert batch.regions
    held_out = {i for i, p in enumerate(TRAIN_PHRASES) if p in set(HELD_OUT_PHRASES)}
    assert not held_out  # TRAIN_PHRASES already excludes them, so no region can point at one
    for step in range(30):
        for r in sample_batch(step, seed=1, n_images=2, prompts_per_image=1).regions:
            assert r.phrases and all(TRAIN_PHRASES[i] not in HELD_OUT_PHRASES for i in r.phrases)
    net = build_sam3_nano_from_config().train()
    pixels = images_to_tensor(batch.images, "cpu")
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        features = net.backbone.forward_image(pixels)["vision_features"]
        loss = model_alignment_loss(net, features, batch.regions)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
