"""The template's "Code for part C1" and "Code for part C2" cells, verbatim.

Executed by tests with ``exec`` in a namespace that has done
``from ccn_helpers import *`` and defined ``fname``.
"""

C1 = r"""
## Code for part C1

# Set random seeds for reproducibility
np.random.seed(12)
torch.manual_seed(12)

# Set height and width of stimulus
h_ = 3
h, w  = grating(0).shape

# Initialize CNN model with height and width of stimulus
net = CNN(h, w)

# Build training set to train it on
n_train = 1000  # size of training set

# sample n_train random orientations between -90 and +90 degrees
ori = (np.random.rand(n_train) - 0.5) * 180

# build orientated grating stimuli
stimuli = torch.stack([grating(i) for i in ori])

# stimulus tilt: 1. if tilted right, 0. if tilted left, as a column vector
tilt = torch.tensor(ori > 0).type(torch.float).unsqueeze(-1)

# Train model
train(net, stimuli, tilt)
"""

C2 = r"""
## Code for part C2
# Load mouse V1 data
resp_v1, ori = load_data(fname)

# Extract model internal representations of each stimulus in the V1 data
# construct grating stimuli for each orientation presented in the V1 data
stimuli = torch.stack([grating(a.item()) for a in ori])
layer_labels = ['pool', 'fc']
resp_model = get_hidden_activity(net, stimuli, layer_labels)

# Aggregate all responses into one dict
resp_dict = {}
resp_dict['V1 data'] = resp_v1
for k, v in resp_model.items():
  label = f"model\n'{k}' layer"
  resp_dict[label] = v
"""
