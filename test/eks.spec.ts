import { strict as assert } from "node:assert";
import { subnetCidr } from "../components/cidr";
import { amiType, awsPartition, subnetLayout } from "../components/cluster/eks";
import { containsUnknown, FAKE, fakeCloud, plain, type Recorded, unwrap } from "./mocks";
import { runProgram, type ProgramRun } from "./program";
import { readStackConfig, stackFile } from "../scripts/synth/stack-config";
import { useKubeconfig } from "./tools";

type Obj = Record<string, any>;

/** The EKS stacks this repository ships: prod (3 zones) and the example (2 zones, a spot pool). */
const STACKS = ["prod", "examples/eks"] as const;

function eksBlock(stack: string): Obj {
  return (stackFile(stack)["platform:cluster"] as Obj)["eks"] as Obj;
}

function inputs(r: Recorded): Obj {
  return plain(r.inputs) as Obj;
}

function depNames(r: Recorded): string[] {
  return r.dependencies.map((u) => u.split("::").pop()!).sort();
}

/** Does `r` wait for `urn` before it is created (and so go before it on destroy), directly or not? */
function waitsFor(run: ProgramRun, r: Recorded, urn: string): boolean {
  const seen = new Set<string>();
  const todo = [...r.dependencies];
  while (todo.length > 0) {
    const u = todo.pop()!;
    if (u === urn) return true;
    if (seen.has(u)) continue;
    seen.add(u);
    todo.push(...(run.recorder.byUrn(u)?.dependencies ?? []));
  }
  return false;
}

/**
 * The inputs Pulumi sends on an update: for each ignoreChanges path, the old input, not the new one.
 * Pulumi's engine, pkg/resource/deploy/step_generator.go: "processIgnoreChanges sets the value for
 * each ignoreChanges property in inputs to the value from oldInputs".
 */
function sentOnUpdate(inputsNow: Obj, oldInputs: Obj, ignoreChanges: readonly string[]): Obj {
  const sent = structuredClone(inputsNow);
  for (const path of ignoreChanges) {
    const keys = path.split(".");
    let from: any = oldInputs;
    let to: any = sent;
    for (const k of keys.slice(0, -1)) {
      from = from?.[k];
      to = to?.[k];
    }
    if (to && from) to[keys[keys.length - 1]!] = from[keys[keys.length - 1]!];
  }
  return sent;
}

const CLUSTER_ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";

describe("EKS cluster", () => {
  describe("subnet layout", () => {
    it("splits the VPC in eight: private subnets first, public ones from the fifth block", () => {
      assert.deepEqual(subnetLayout("10.0.0.0/16", 3), {
        private: ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"],
        public: ["10.0.128.0/19", "10.0.160.0/19", "10.0.192.0/19"],
      });
      assert.equal(subnetCidr("10.8.16.0/20", 3, 7), "10.8.30.0/23");
      assert.throws(() => subnetCidr("10.0.0.0/16", 3, 8), RangeError);
    });

    it("picks the ARM image for Graviton instance types only, and the partition from the region", () => {
      assert.equal(amiType("m7g.large"), "AL2023_ARM_64_STANDARD");
      assert.equal(amiType("c7gn.xlarge"), "AL2023_ARM_64_STANDARD");
      assert.equal(amiType("t4g.medium"), "AL2023_ARM_64_STANDARD");
      assert.equal(amiType("m6i.large"), "AL2023_x86_64_STANDARD");
      assert.equal(amiType("g5.xlarge"), "AL2023_x86_64_STANDARD");
      assert.deepEqual(["eu-central-1", "cn-north-1", "us-gov-west-1"].map(awsPartition), [
        "aws",
        "aws-cn",
        "aws-us-gov",
      ]);
    });
  });

  for (const stack of STACKS) {
    describe(stack, () => {
      let run: ProgramRun;
      let cfg: Obj;
      const prod = stack === "prod";
      const one = (type: string, name?: string) => run.recorder.one(`aws:${type}`, name);
      const all = (type: string) => run.recorder.all(`aws:${type}`);
      before(async () => {
        run = await runProgram(stack);
        if (run.error) throw run.error;
        cfg = eksBlock(stack);
      });

      it("never moves a subnet to another zone once it exists", () => {
        const subnets = all("ec2/subnet:Subnet");
        assert.equal(subnets.length, 2 * Number(cfg["availabilityZones"]));
        for (const s of subnets) assert.deepEqual(s.ignoreChanges, ["availabilityZone"], s.name);
      });

      it("builds the VPC over the configured zones: private node subnets, public ones for load balancers", () => {
        const zones = Number(cfg["availabilityZones"]);
        assert.equal(zones, prod ? 3 : 2);
        const subnets = all("ec2/subnet:Subnet").map(inputs);
        const priv = subnets.filter((s) => s["tags"]["kubernetes.io/role/internal-elb"] === "1");
        const pub = subnets.filter((s) => s["tags"]["kubernetes.io/role/elb"] === "1");
        assert.equal(priv.length, zones);
        assert.equal(pub.length, zones);
        assert.equal(subnets.length, 2 * zones);
        assert.equal(cfg["vpcCidr"], "10.0.0.0/16");
        assert.deepEqual(
          priv.map((s) => s["cidrBlock"]),
          ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"].slice(0, zones),
        );
        assert.deepEqual(
          pub.map((s) => s["cidrBlock"]),
          ["10.0.128.0/19", "10.0.160.0/19", "10.0.192.0/19"].slice(0, zones),
        );
        assert.deepEqual(
          new Set(priv.map((s) => s["availabilityZone"])),
          new Set((cfg["zones"] as string[] | undefined) ?? FAKE.zones.slice(0, zones)),
        );
        for (const s of subnets) {
          assert.equal(
            s["tags"][`kubernetes.io/cluster/${String(stackFile(stack)["platform:cluster"].name)}`],
            "owned",
          );
          assert.notEqual(s["mapPublicIpOnLaunch"], true, "no subnet hands out public addresses");
        }
        assert.deepEqual(inputs(one("ec2/vpc:Vpc")), {
          cidrBlock: cfg["vpcCidr"],
          enableDnsHostnames: true,
          enableDnsSupport: true,
          tags: { Name: `${stackFile(stack)["platform:cluster"].name}-vpc` },
        });
      });

      it(prod ? "gives every zone its own NAT gateway" : "shares one NAT gateway outside prod", () => {
        const nats = all("ec2/natGateway:NatGateway");
        assert.equal(nats.length, prod ? 3 : 1);
        const routes = all("ec2/routeTable:RouteTable")
          .filter((r) => r.name.includes("private"))
          .map((r) => inputs(r)["routes"][0]);
        for (const [i, route] of routes.entries()) {
          assert.equal(route["cidrBlock"], "0.0.0.0/0");
          assert.equal(route["natGatewayId"], `cluster-nat-${prod ? i : 0}-id`);
        }
      });

      it("encrypts Secrets with its own KMS key, rotation on, kept 30 days after a prod destroy (7 elsewhere)", () => {
        const key = inputs(one("kms/key:Key"));
        assert.equal(key["enableKeyRotation"], true);
        assert.equal(key["deletionWindowInDays"], prod ? 30 : 7);
        const cluster = inputs(one("eks/cluster:Cluster"));
        assert.deepEqual(cluster["encryptionConfig"], {
          provider: { keyArn: `arn:aws:kms:mock:${FAKE.awsAccount}:key/mock-key` },
          resources: ["secrets"],
        });
      });

      it("keeps the API endpoint private, and public only to the configured CIDRs", () => {
        const vpc = inputs(one("eks/cluster:Cluster"))["vpcConfig"];
        assert.equal(vpc["endpointPrivateAccess"], true);
        assert.equal(vpc["endpointPublicAccess"], true);
        assert.deepEqual(vpc["publicAccessCidrs"], cfg["apiAllowedCidrs"]);
        const privateIds = all("ec2/subnet:Subnet")
          .filter((s) => s.name.includes("private"))
          .map((s) => `${s.name}-id`);
        assert.deepEqual(vpc["subnetIds"], privateIds, "the control plane's interfaces sit in the private subnets");
      });

      it("sends all five control-plane log types to a log group it owns, with a retention", () => {
        const cluster = one("eks/cluster:Cluster");
        assert.deepEqual(inputs(cluster)["enabledClusterLogTypes"], [
          "api",
          "audit",
          "authenticator",
          "controllerManager",
          "scheduler",
        ]);
        const group = one("cloudwatch/logGroup:LogGroup", "cluster-logs");
        assert.equal(inputs(group)["name"], `/aws/eks/${inputs(cluster)["name"]}/cluster`);
        assert.equal(inputs(group)["retentionInDays"], cfg["logRetentionDays"]);
        assert.ok(depNames(cluster).includes(group.name), "EKS would create the group itself first, without retention");
      });

      it("pins the Kubernetes version, uses access entries only, and protects the prod cluster from deletion", () => {
        const cluster = inputs(one("eks/cluster:Cluster"));
        assert.equal(cluster["version"], cfg["kubernetesVersion"]);
        assert.equal(cluster["deletionProtection"], prod);
        assert.deepEqual(cluster["upgradePolicy"], { supportType: "STANDARD" });
      });

      it("makes no identity admin implicitly: the deployer and each admin get an access entry with the cluster-admin policy", () => {
        const cluster = one("eks/cluster:Cluster");
        // EKS's implicit entry for the creator is one that `adminPrincipalArns` cannot list
        // (CreateAccessEntry: ResourceInUseException) and that no other identity gets.
        assert.deepEqual(inputs(cluster)["accessConfig"], {
          authenticationMode: "API",
          bootstrapClusterCreatorAdminPermissions: false,
        });
        // terraform-provider-aws, internal/service/eks/cluster.go: "bootstrap_cluster_creator_admin_permissions":
        // {Type: schema.TypeBool, Optional: true, ForceNew: true, Default: true}. A cluster made before
        // keeps its value: changing it would replace the cluster.
        assert.ok(cluster.ignoreChanges.includes("accessConfig.bootstrapClusterCreatorAdminPermissions"));
        // The deployer is CI's role, as iam.getSessionContext turns STS's assumed-role ARN into it.
        const deployer = `arn:aws:iam::${FAKE.awsAccount}:role/platform-ci`;
        const entries = all("eks/accessEntry:AccessEntry").map(inputs);
        assert.deepEqual(entries.map((e) => e["principalArn"]).sort(), [...cfg["adminPrincipalArns"], deployer].sort());
        for (const e of entries) assert.equal(e["type"], "STANDARD");
        const associations = all("eks/accessPolicyAssociation:AccessPolicyAssociation");
        assert.deepEqual(
          associations.map((a) => inputs(a)["principalArn"]).sort(),
          entries.map((e) => e["principalArn"]).sort(),
        );
        for (const a of associations.map(inputs)) {
          assert.equal(a["policyArn"], CLUSTER_ADMIN);
          assert.deepEqual(a["accessScope"], { type: "cluster" });
        }
        // Everything on the cluster goes through this provider: it must not start before access is granted.
        const provider = run.recorder.one("pulumi:providers:kubernetes");
        for (const a of associations)
          assert.ok(waitsFor(run, provider, a.urn), `the provider does not wait for ${a.name}`);
      });

      it("runs the node groups in the private subnets, sized from config, spot only where asked and never in prod", () => {
        const groups = all("eks/nodeGroup:NodeGroup");
        const pools = cfg["nodePools"] as Obj[];
        assert.equal(groups.length, pools.length);
        for (const [i, pool] of pools.entries()) {
          const g = inputs(groups[i]!);
          assert.deepEqual(g["instanceTypes"], [pool["machineType"]]);
          assert.deepEqual(g["scalingConfig"], {
            minSize: pool["minNodes"],
            maxSize: pool["maxNodes"],
            desiredSize: pool["minNodes"],
          });
          assert.equal(g["capacityType"], pool["spot"] ? "SPOT" : "ON_DEMAND");
          assert.ok(
            g["subnetIds"].every((id: string) => id.includes("private")),
            "nodes in a public subnet",
          );
          // Nothing else owns the size (no autoscaler runs): Pulumi sets it, so a raised minimum applies.
          assert.deepEqual(groups[i]!.ignoreChanges, []);
          assert.equal(g["version"], cfg["kubernetesVersion"], "nodes would stay behind a control-plane upgrade");
        }
        if (!prod)
          assert.ok(
            groups.some((g) => inputs(g)["capacityType"] === "SPOT"),
            "the example shows a spot pool",
          );
      });

      it("starts nodes with IMDSv2 only (one hop) and encrypted root volumes, tagged for cleanup", () => {
        const templates = all("ec2/launchTemplate:LaunchTemplate");
        const groups = all("eks/nodeGroup:NodeGroup");
        assert.equal(templates.length, (cfg["nodePools"] as Obj[]).length);
        assert.deepEqual(
          groups.map((g) => inputs(g)["launchTemplate"]),
          templates.map((t) => ({ id: `${t.name}-id`, version: "1" })),
          "a node group does not start from its pool's launch template",
        );
        for (const t of templates.map(inputs)) {
          assert.deepEqual(t["metadataOptions"], {
            httpEndpoint: "enabled",
            httpTokens: "required",
            httpPutResponseHopLimit: 1,
          });
          assert.equal(t["blockDeviceMappings"][0]["ebs"]["encrypted"], "true");
          const instance = t["tagSpecifications"].find((s: Obj) => s["resourceType"] === "instance");
          assert.equal(instance["tags"]["platform-cluster"], stackFile(stack)["platform:cluster"].name);
        }
      });

      it("installs the managed add-ons: VPC CNI enforcing network policy, CoreDNS, kube-proxy, EBS CSI with IRSA", () => {
        const addons: Obj = Object.fromEntries(all("eks/addon:Addon").map((a) => [inputs(a)["addonName"], a]));
        assert.deepEqual(Object.keys(addons).sort(), [
          "aws-ebs-csi-driver",
          "coredns",
          "kube-proxy",
          "metrics-server",
          "vpc-cni",
        ]);
        assert.deepEqual(JSON.parse(inputs(addons["vpc-cni"])["configurationValues"]), {
          enableNetworkPolicy: "true",
        });
        // Unpinned: EKS's default for this Kubernetes version, so an upgrade moves them along.
        for (const [addonName, addon] of Object.entries(addons)) {
          assert.equal(inputs(addon)["addonVersion"], FAKE.addonDefault(addonName, cfg["kubernetesVersion"]));
        }
        const ebsRole = one("iam/role:Role", "cluster-ebs-csi-role");
        assert.equal(
          inputs(addons["aws-ebs-csi-driver"])["serviceAccountRoleArn"],
          `arn:aws:iam::${FAKE.awsAccount}:role/${inputs(ebsRole)["namePrefix"]}mock`,
        );
        const trust = JSON.parse(inputs(ebsRole)["assumeRolePolicy"]);
        const issuer = FAKE.eksIssuer.replace("https://", "");
        assert.deepEqual(trust.Statement[0].Condition.StringEquals, {
          [`${issuer}:sub`]: "system:serviceaccount:kube-system:ebs-csi-controller-sa",
          [`${issuer}:aud`]: "sts.amazonaws.com",
        });
        // Order that data flow does not give: nodes need the CNI; CoreDNS and EBS CSI need nodes.
        const groups = all("eks/nodeGroup:NodeGroup").map((g) => g.name);
        const privateRoutes = all("ec2/routeTableAssociation:RouteTableAssociation")
          .filter((a) => a.name.includes("private"))
          .map((a) => a.urn);
        for (const g of all("eks/nodeGroup:NodeGroup")) {
          assert.ok(depNames(g).includes("cluster-vpc-cni") && depNames(g).includes("cluster-kube-proxy"), g.name);
          // Nodes in private subnets pull images through the NAT gateways: their routes come first.
          assert.ok(
            privateRoutes.every((u) => g.dependencies.includes(u)),
            `${g.name} could boot before its way out`,
          );
          // ...and go last on destroy: the drain's volume deletes need the EBS CSI controller to
          // reach the EC2 API through NAT gateway, public route and internet gateway.
          const wayOut = [
            ...all("ec2/natGateway:NatGateway"),
            ...all("ec2/routeTableAssociation:RouteTableAssociation"),
            one("ec2/internetGateway:InternetGateway"),
          ];
          for (const r of wayOut) assert.ok(g.dependencies.includes(r.urn), `${g.name} outlives ${r.name} on destroy`);
        }
        // Pulumi's aws.ec2.Eip docs: "EIP may require IGW to exist prior to association. Use
        // depends_on to set an explicit dependency on the IGW." On destroy the address is released
        // before the gateway is detached (DetachInternetGateway fails while addresses are mapped).
        for (const eip of all("ec2/eip:Eip")) {
          assert.ok(depNames(eip).includes("cluster-igw"), `${eip.name} does not wait for the internet gateway`);
        }
        for (const name of ["coredns", "aws-ebs-csi-driver", "metrics-server"]) {
          assert.ok(
            groups.every((g) => depNames(addons[name]).includes(g)),
            `${name} does not wait for the nodes`,
          );
        }
        assert.deepEqual(depNames(addons["vpc-cni"]), ["cluster-eks"], "the CNI waits for nothing but the cluster");
      });

      it("makes encrypted gp3 the default StorageClass, on the cluster's own provider", () => {
        const classes = run.recorder.all("kubernetes:storage.k8s.io/v1:StorageClass");
        assert.equal(classes.length, 1);
        const sc = inputs(classes[0]!);
        assert.equal(sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"], "true");
        assert.equal(sc["provisioner"], "ebs.csi.aws.com", "the in-tree gp2 provisioner is gone from EKS");
        assert.deepEqual(sc["parameters"], { type: "gp3", encrypted: "true" });
        assert.equal(sc["volumeBindingMode"], "WaitForFirstConsumer", "a volume must be made in its pod's zone");
        assert.equal(run.recorder.providerOf(classes[0]!)?.name, "cluster-provider");
      });

      it("registers the cluster's OIDC issuer for IRSA and exposes it on the cluster interface", () => {
        assert.deepEqual(inputs(one("iam/openIdConnectProvider:OpenIdConnectProvider")), {
          url: FAKE.eksIssuer,
          clientIdLists: ["sts.amazonaws.com"],
        });
      });

      it("attaches the AWS managed policies to the cluster and node roles, nodes only pulling from ECR", () => {
        const attached = all("iam/rolePolicyAttachment:RolePolicyAttachment")
          .map((a) => inputs(a)["policyArn"])
          .sort();
        // AWS, "Amazon EKS node IAM role": "Permissions for the kubelet to use container images from
        // Amazon Elastic Container Registry (Amazon ECR), such as provided by the
        // AmazonEC2ContainerRegistryPullOnly policy." ReadOnly also lists and describes every
        // repository of the account.
        assert.ok(!attached.includes("arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"));
        const nodeRole = one("iam/role:Role", "cluster-node-role");
        assert.ok(
          all("iam/rolePolicyAttachment:RolePolicyAttachment").some(
            (a) =>
              inputs(a)["role"] === `${inputs(nodeRole)["namePrefix"]}mock` &&
              inputs(a)["policyArn"] === "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
          ),
          "the node role cannot pull images",
        );
        assert.deepEqual(attached, [
          "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
          "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
          "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
          "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
          "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
        ]);
      });

      it("reaches ECR, STS and EC2 through interface endpoints in the private subnets, and S3 through a gateway endpoint", () => {
        // AWS, "Private cluster requirements" (EKS User Guide): "Many AWS services support private
        // clusters, but you must use a VPC endpoint", among them com.amazonaws.region-code.ecr.api,
        // .ecr.dkr, .ec2, .sts and the S3 gateway endpoint; "Amazon ECR interface VPC endpoints":
        // image layers come from S3, so the gateway endpoint goes on the nodes' route tables.
        const region = String(cfg["region"]);
        const endpoints = all("ec2/vpcEndpoint:VpcEndpoint");
        const byService = Object.fromEntries(endpoints.map((e) => [inputs(e)["serviceName"], inputs(e)]));
        assert.deepEqual(
          Object.keys(byService).sort(),
          ["ec2", "ecr.api", "ecr.dkr", "s3", "sts"].map((s) => `com.amazonaws.${region}.${s}`),
        );
        const privateSubnetIds = all("ec2/subnet:Subnet")
          .filter((s) => s.name.includes("private"))
          .map((s) => `${s.name}-id`);
        const sg = one("ec2/securityGroup:SecurityGroup", "cluster-endpoints");
        for (const service of ["ecr.api", "ecr.dkr", "sts", "ec2"]) {
          const e = byService[`com.amazonaws.${region}.${service}`]!;
          assert.equal(e["vpcEndpointType"], "Interface", service);
          // Private DNS makes the service's own name answer inside the VPC (SDKs need no setting);
          // it needs the VPC's DNS support and hostnames, both on.
          assert.equal(e["privateDnsEnabled"], true, service);
          assert.deepEqual(e["subnetIds"], privateSubnetIds, service);
          assert.deepEqual(e["securityGroupIds"], [`${sg.name}-id`], service);
          assert.equal(e["vpcId"], "cluster-vpc-id");
        }
        const s3 = byService[`com.amazonaws.${region}.s3`]!;
        assert.equal(s3["vpcEndpointType"], "Gateway");
        assert.deepEqual(
          s3["routeTableIds"],
          all("ec2/routeTable:RouteTable")
            .filter((t) => t.name.includes("private"))
            .map((t) => `${t.name}-id`),
        );
        // HTTPS from the VPC's range and nothing else; no egress (an endpoint only answers).
        assert.deepEqual(inputs(sg)["ingress"], [
          {
            protocol: "tcp",
            fromPort: 443,
            toPort: 443,
            cidrBlocks: [cfg["vpcCidr"]],
            description: "HTTPS from the VPC",
          },
        ]);
        assert.equal(inputs(sg)["egress"], undefined);
        // A node boots with its image pulls going through them, and they outlive the nodes on destroy.
        for (const g of all("eks/nodeGroup:NodeGroup")) {
          for (const e of endpoints) assert.ok(g.dependencies.includes(e.urn), `${g.name} does not wait for ${e.name}`);
        }
      });

      it("records the VPC's traffic in flow logs, kept as long as the control-plane logs, written through a role of their own", () => {
        const name = String(stackFile(stack)["platform:cluster"].name);
        const region = String(cfg["region"]);
        const group = one("cloudwatch/logGroup:LogGroup", "cluster-flow-logs");
        const groupArn = `arn:aws:logs:mock:${FAKE.awsAccount}:log-group:/aws/vpc/${name}/flow-logs`;
        assert.equal(inputs(group)["name"], `/aws/vpc/${name}/flow-logs`);
        assert.equal(inputs(group)["retentionInDays"], cfg["logRetentionDays"]);
        const role = one("iam/role:Role", "cluster-flow-logs-role");
        const flowLog = inputs(one("ec2/flowLog:FlowLog"));
        assert.deepEqual(flowLog, {
          vpcId: "cluster-vpc-id",
          trafficType: "ALL",
          logDestinationType: "cloud-watch-logs",
          logDestination: groupArn,
          iamRoleArn: `arn:aws:iam::${FAKE.awsAccount}:role/${inputs(role)["namePrefix"]}mock`,
          tags: { Name: `${name}-flow-logs` },
        });
        // AWS, "IAM role for publishing flow logs to CloudWatch Logs": the trust policy "allows the
        // flow logs service to assume the role", and "We recommend that you use the
        // aws:SourceAccount and aws:SourceArn condition keys to protect yourself against the
        // confused deputy problem".
        assert.deepEqual(JSON.parse(inputs(role)["assumeRolePolicy"]).Statement, [
          {
            Effect: "Allow",
            Principal: { Service: "vpc-flow-logs.amazonaws.com" },
            Action: "sts:AssumeRole",
            Condition: {
              StringEquals: { "aws:SourceAccount": FAKE.awsAccount },
              ArnLike: { "aws:SourceArn": `arn:aws:ec2:${region}:${FAKE.awsAccount}:vpc-flow-log/*` },
            },
          },
        ]);
        // The same page lists the actions (CreateLogGroup, CreateLogStream, PutLogEvents,
        // DescribeLogGroups, DescribeLogStreams) on "*"; here they reach this group only.
        const policy = one("iam/rolePolicy:RolePolicy", "cluster-flow-logs");
        assert.equal(inputs(policy)["role"], `${inputs(role)["namePrefix"]}mock`);
        assert.deepEqual(JSON.parse(inputs(policy)["policy"]).Statement, [
          {
            Effect: "Allow",
            Action: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            Resource: [groupArn, `${groupArn}:*`],
          },
          {
            Effect: "Allow",
            Action: "logs:DescribeLogGroups",
            Resource: `arn:aws:logs:${region}:${FAKE.awsAccount}:log-group:*`,
          },
        ]);
        const fl = one("ec2/flowLog:FlowLog");
        assert.ok(fl.dependencies.includes(policy.urn), "the service would write before its role may");
        // From before the control plane's first interface to after its last.
        assert.ok(depNames(one("eks/cluster:Cluster")).includes(fl.name));
      });

      it("encrypts both log groups with the cluster's KMS key, whose policy admits CloudWatch Logs of the region for those groups only", () => {
        const name = String(stackFile(stack)["platform:cluster"].name);
        const region = String(cfg["region"]);
        const key = one("kms/key:Key");
        const keyArn = `arn:aws:kms:mock:${FAKE.awsAccount}:key/mock-key`;
        for (const g of all("cloudwatch/logGroup:LogGroup")) assert.equal(inputs(g)["kmsKeyId"], keyArn, g.name);
        // AWS, "Encrypt log data in CloudWatch Logs using AWS KMS": the key policy lets
        // "logs.region.amazonaws.com" use the key, and "CloudWatch Logs now supports encryption
        // context, using kms:EncryptionContext:aws:logs:arn as the key and the ARN of the log group
        // as the value". The first statement is KMS's default key policy, which the key had before
        // (EKS's role uses it through IAM).
        assert.deepEqual(JSON.parse(inputs(key)["policy"]).Statement, [
          {
            Sid: "Enable IAM User Permissions",
            Effect: "Allow",
            Principal: { AWS: `arn:aws:iam::${FAKE.awsAccount}:root` },
            Action: "kms:*",
            Resource: "*",
          },
          {
            Sid: "CloudWatchLogsEncryptsTheClusterGroups",
            Effect: "Allow",
            Principal: { Service: `logs.${region}.amazonaws.com` },
            Action: ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            Resource: "*",
            Condition: {
              ArnEquals: {
                "kms:EncryptionContext:aws:logs:arn": [
                  `arn:aws:logs:${region}:${FAKE.awsAccount}:log-group:/aws/eks/${name}/cluster`,
                  `arn:aws:logs:${region}:${FAKE.awsAccount}:log-group:/aws/vpc/${name}/flow-logs`,
                ],
              },
            },
          },
        ]);
      });

      it("puts the region and the cleanup tags on its AWS provider, so every AWS resource carries them", () => {
        const provider = inputs(run.recorder.one("pulumi:providers:aws", "cluster-aws"));
        assert.equal(provider["region"], cfg["region"]);
        assert.deepEqual(JSON.parse(provider["defaultTags"]).tags, {
          "platform-cluster": stackFile(stack)["platform:cluster"].name,
          "platform-stack": stack.replace("examples/", ""),
          "platform-environment": stackFile(stack)["platform:environment"],
          "managed-by": "pulumi",
        });
      });

      it("hands out a kubeconfig that kubectl loads and that signs in through `aws eks get-token`, holding no credential", async () => {
        const { value } = await unwrap(run.outputs!["kubeconfig"]!);
        const name = stackFile(stack)["platform:cluster"].name;
        const use = useKubeconfig(String(value), "aws");
        assert.deepEqual(use.pluginArgs, [
          "eks",
          "get-token",
          "--cluster-name",
          name,
          "--region",
          cfg["region"],
          "--output",
          "json",
        ]);
        assert.equal(use.view["clusters"][0]["cluster"]["server"], FAKE.eksEndpoint);
        const user = use.view["users"][0]["user"];
        assert.deepEqual(Object.keys(user), ["exec"], "the kubeconfig holds a token, password or key");
        assert.match(use.stderr, /127\.0\.0\.1:1/, "kubectl did not get as far as the request");
      });

      it("hands the kubeconfig to Kubernetes once the nodes are up, and has the root app wait for DNS, storage and metrics", () => {
        const provider = run.recorder.one("pulumi:providers:kubernetes");
        // pulumi-kubernetes then replaces this provider (and every object on it) only with the cluster.
        assert.equal(
          inputs(provider)["clusterIdentifier"],
          `arn:aws:eks:mock:${FAKE.awsAccount}:cluster/${String(stackFile(stack)["platform:cluster"].name)}@${FAKE.createdAt}`,
        );
        // Argo CD's install starts with the nodes, beside CoreDNS, the CSI driver and metrics-server.
        const groups = all("eks/nodeGroup:NodeGroup").map((g) => g.name);
        const admins = all("eks/accessPolicyAssociation:AccessPolicyAssociation")
          .map((a) => a.name)
          .filter((n) => n.startsWith("cluster-admin-"));
        assert.deepEqual(depNames(provider), ["cluster-eks", ...groups, ...admins].sort());
        const root = run.recorder.one("kubernetes:argoproj.io/v1alpha1:Application", "gitops-root-app");
        for (const service of [
          "cluster-coredns",
          "cluster-aws-ebs-csi-driver",
          "cluster-metrics-server",
          "cluster-gp3",
        ]) {
          assert.ok(depNames(root).includes(service), `the root app would sync before ${service}`);
        }
      });
    });
  }

  describe("prod, unprotected for a planned teardown", () => {
    it("drops protect and EKS deletion protection together when platform:cluster.protect is false", async () => {
      const cluster = { ...(stackFile("prod")["platform:cluster"] as Obj), protect: false };
      const run = await runProgram("prod", readStackConfig("prod", { "platform:cluster": cluster }));
      if (run.error) throw run.error;
      const eks = run.recorder.one("aws:eks/cluster:Cluster");
      assert.equal(inputs(eks)["deletionProtection"], false);
      assert.deepEqual(
        run.recorder.resources.filter((r) => r.protect).map((r) => r.name),
        [],
      );
    });
  });

  describe("prod, with settings that differ from the stack file", () => {
    const cluster = stackFile("prod")["platform:cluster"] as Obj;
    const withEks = (patch: Obj) =>
      readStackConfig("prod", { "platform:cluster": { ...cluster, eks: { ...cluster["eks"], ...patch } } });

    it("uses configured zones, in their order, and pinned add-on versions as written", async () => {
      const zones = ["eu-central-1b", "eu-central-1c", "eu-central-1a"];
      const run = await runProgram("prod", withEks({ zones, addonVersions: { vpcCni: "v1.20.4-eksbuild.2" } }));
      if (run.error) throw run.error;
      const priv = run.recorder.all("aws:ec2/subnet:Subnet").filter((r) => r.name.includes("private"));
      assert.deepEqual(
        priv.map((r) => inputs(r)["availabilityZone"]),
        zones,
      );
      const cni = run.recorder.all("aws:eks/addon:Addon").find((a) => inputs(a)["addonName"] === "vpc-cni")!;
      assert.equal(inputs(cni)["addonVersion"], "v1.20.4-eksbuild.2");
    });

    it("keeps the kubeconfig known in a preview that adds node groups and add-ons, so Kubernetes objects are not replaced", async () => {
      const run = await runProgram("prod", undefined, {
        preview: true,
        unknownTypes: ["aws:eks/nodeGroup:NodeGroup", "aws:eks/addon:Addon"],
      });
      if (run.error) throw run.error;
      const kubeconfigInput = run.recorder.one("pulumi:providers:kubernetes").inputs["kubeconfig"];
      const kubeconfig = JSON.stringify(plain(kubeconfigInput));
      assert.ok(!containsUnknown(kubeconfigInput), "pulumi-kubernetes replaces its provider on an unknown kubeconfig");
      assert.match(kubeconfig, /get-token/);
    });
  });

  describe("access, whoever deploys", () => {
    const admin = (stackFile("prod")["platform:cluster"] as Obj)["eks"]["adminPrincipalArns"][0] as string;
    const withCaller = async (callerArn: string) => {
      const saved = fakeCloud.callerArn;
      fakeCloud.callerArn = callerArn;
      try {
        const run = await runProgram("prod");
        if (run.error) throw run.error;
        return run;
      } finally {
        fakeCloud.callerArn = saved;
      }
    };
    const principals = (run: ProgramRun) =>
      run.recorder.all("aws:eks/accessEntry:AccessEntry").map((e) => [e.name, inputs(e)["principalArn"]]);

    it("gives a deployer that is already an admin no second entry (EKS allows one per principal)", async () => {
      // aws:eks CreateAccessEntry answers ResourceInUseException for a principal that has one.
      const [, account, role] = /^arn:aws:iam::(\d{12}):role\/(.+)$/.exec(admin)!;
      const run = await withCaller(`arn:aws:sts::${account}:assumed-role/${role}/laptop-session`);
      const cfgAdmins = (stackFile("prod")["platform:cluster"] as Obj)["eks"]["adminPrincipalArns"] as string[];
      assert.deepEqual(
        principals(run),
        cfgAdmins.map((a, i) => [`cluster-admin-${i}`, a]),
      );
    });

    it("keeps the admins' entries by name whoever deploys, so a change of deployer touches only its own", async () => {
      const ci = await withCaller(`arn:aws:sts::${FAKE.awsAccount}:assumed-role/platform-ci/one`);
      const user = await withCaller(`arn:aws:iam::${FAKE.awsAccount}:user/alice`);
      const admins = (run: ProgramRun) => principals(run).filter(([n]) => n !== "cluster-deployer");
      assert.deepEqual(admins(ci), admins(user));
      // An IAM user's ARN passes through getSessionContext as it is.
      assert.deepEqual(
        principals(user).find(([n]) => n === "cluster-deployer"),
        ["cluster-deployer", `arn:aws:iam::${FAKE.awsAccount}:user/alice`],
      );
      const deployerAssoc = user.recorder.one(
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
        "cluster-deployer",
      );
      assert.equal(inputs(deployerAssoc)["policyArn"], CLUSTER_ADMIN);
    });
  });

  describe("node group size", () => {
    it("applies a raised minNodes to a node group that exists: the update sends a desired size within the new bounds", async () => {
      const cluster = stackFile("prod")["platform:cluster"] as Obj;
      const pools = cluster["eks"]["nodePools"] as Obj[];
      const raised = pools.map((p) => ({
        ...p,
        minNodes: Number(p["minNodes"]) + 1,
        maxNodes: Number(p["maxNodes"]) + 1,
      }));
      const before = await runProgram("prod");
      const after = await runProgram(
        "prod",
        readStackConfig("prod", { "platform:cluster": { ...cluster, eks: { ...cluster["eks"], nodePools: raised } } }),
      );
      if (before.error) throw before.error;
      if (after.error) throw after.error;
      const groups = (run: ProgramRun) => run.recorder.all("aws:eks/nodeGroup:NodeGroup");
      for (const [i, g] of groups(after).entries()) {
        const sent = sentOnUpdate(inputs(g), inputs(groups(before)[i]!), g.ignoreChanges)["scalingConfig"];
        // terraform-provider-aws, internal/service/eks/node_group.go: on a scaling_config change,
        // UpdateNodegroupConfig gets expandNodegroupScalingConfig (desired, max and min together);
        // EKS refuses minSize > desiredSize ("InvalidParameterException: Minimum capacity 3 can't
        // be greater than desired size 2", terraform-aws-modules/terraform-aws-eks#748, #3306).
        assert.ok(
          sent["minSize"] <= sent["desiredSize"] && sent["desiredSize"] <= sent["maxSize"],
          `${g.name}: EKS refuses ${JSON.stringify(sent)}`,
        );
        assert.equal(sent["minSize"], raised[i]!["minNodes"]);
      }
    });
  });

  describe("edge cases", () => {
    const cluster = stackFile("examples/eks")["platform:cluster"] as Obj;
    const withEks = (patch: Obj) =>
      readStackConfig("examples/eks", { "platform:cluster": { ...cluster, eks: { ...cluster["eks"], ...patch } } });

    it("turns the public endpoint off when apiAllowedCidrs is empty", async () => {
      const run = await runProgram("examples/eks", withEks({ apiAllowedCidrs: [] }));
      if (run.error) throw run.error;
      const vpc = inputs(run.recorder.one("aws:eks/cluster:Cluster"))["vpcConfig"];
      assert.equal(vpc["endpointPublicAccess"], false);
      assert.equal(vpc["endpointPrivateAccess"], true);
      assert.equal(vpc["publicAccessCidrs"], undefined);
    });

    it("stops before any AWS resource when the region has fewer zones than asked for", async () => {
      const saved = fakeCloud.zones;
      fakeCloud.zones = ["zone-a"];
      try {
        const eks = { ...(cluster["eks"] as Obj) };
        delete eks["zones"];
        const config = readStackConfig("examples/eks", { "platform:cluster": { ...cluster, eks } });
        const run = await runProgram("examples/eks", config);
        assert.match(
          run.error?.message ?? "",
          /platform:cluster\.eks\.availabilityZones is 2, but eu-central-1 offers only 1 \(zone-a\); lower it, or choose another region/,
        );
        assert.deepEqual(
          run.recorder.resources.filter((r) => r.type.startsWith("aws:")).map((r) => r.name),
          [],
        );
      } finally {
        fakeCloud.zones = saved;
      }
    });
  });
});
